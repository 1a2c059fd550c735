"""samhq-predict as people use it, what it draws and prints: the banded overlay is the whole one,
numbered colour-blind-safe prompts, point shapes, the labelled score, boxes decoded in chunks;
the evaluation overlay's prompt."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from samhq_train import drawing
from samhq_train.inference import SamHQPredictor, batch_predict
from samhq_train.model import build_sam_hq
from tests.inference.predict_runs import run, write_image

pytestmark = pytest.mark.usefixtures("pixel_limit_restored")


def test_overlay_in_bands_equals_the_overlay_in_one_piece(monkeypatch):
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)
    masks = rng.random((3, 70, 90)) > 0.6
    masks[1, 10:60, 20:80] = True
    gt = rng.random((70, 90)) > 0.5
    whole = drawing.draw_overlay(image, masks, gt, boxes=[[1, 2, 80, 60]] * 3)
    monkeypatch.setattr(drawing, "BAND_PIXELS", 90 * 4)  # bands of 4 rows
    banded = drawing.draw_overlay(image, masks, gt, boxes=[[1, 2, 80, 60]] * 3)
    np.testing.assert_array_equal(banded, whole)
    copy = image.copy()
    assert drawing.draw_overlay(copy, masks, in_place=True) is copy
    assert not np.array_equal(copy, image)


def test_each_box_mask_and_number_takes_its_own_palette_colour(tmp_path, tiny_weights, capsys):
    image = write_image(tmp_path / "a.png", (80, 100))
    boxes = [[4, 4, 40, 40], [50, 30, 95, 75]]
    code, _, _ = run(
        [image, "--checkpoint", tiny_weights, "--box", *boxes[0], "--box", *boxes[1],
         "--point", 70, 10, 0, "--out", tmp_path / "out"],
        capsys,
    )
    assert code == 0
    overlay = cv2.cvtColor(cv2.imread(str(tmp_path / "out" / "a_overlay.png")), cv2.COLOR_BGR2RGB)
    for i, (_, y0, x1, y1) in enumerate(boxes):  # each box's right edge in its colour
        assert overlay[(y0 + y1) // 2, x1].tolist() == drawing.PALETTE[i].tolist()
    # the number tags sit at the boxes' top-left corners, in the boxes' colours
    assert overlay[boxes[1][1] + 2, boxes[1][0] + 2].tolist() == drawing.PALETTE[1].tolist()


def test_points_differ_by_shape_not_only_colour():
    image = np.full((60, 60, 3), 128, np.uint8)
    out = drawing.draw_overlay(image, [], points=[[15, 30, 1], [45, 30, 0]])
    grey = np.abs(out.astype(int) - 128).sum(axis=2) > 0
    disc, cross = grey[20:41, 5:26], grey[20:41, 35:56]
    assert disc[10, 10] and cross[10, 10]  # both mark the point itself
    assert disc[10, 4] and not cross[10, 4]  # a disc is filled left of its centre, an X is not
    assert cross[2, 2] and not disc[2, 2]  # an X reaches its corners, a disc does not


def test_the_score_is_labelled_and_does_not_depend_on_hq_token_only(tmp_path, tiny_weights, capsys):
    image = write_image(tmp_path / "a.png")
    argv = [image, "--checkpoint", tiny_weights, "--box", 5, 5, 50, 40]
    _, out, _ = run([*argv, "--out", tmp_path / "o1"], capsys)
    _, out_hq, _ = run([*argv, "--out", tmp_path / "o2", "--hq-token-only"], capsys)
    assert "(SAM's predicted IoU)" in out and "(SAM's predicted IoU)" in out_hq
    scores = [json.loads((tmp_path / o / "predictions.json").read_text()) for o in ("o1", "o2")]
    assert scores[0][str(image)]["scores"] == scores[1][str(image)]["scores"]


def test_the_evaluation_overlay_draws_the_prompt_in_original_pixels():
    from samhq_train.evaluation.benchmark import _prompt_in_original_pixels
    from samhq_train.evaluation.report import overlay_picture

    batch = {
        "input_size": [(20, 30)],
        "gt_original": [torch.zeros(40, 60, dtype=torch.uint8)],
        "prompt_type": ["box", "point"],
        "boxes": torch.tensor([[3.0, 2.0, 12.0, 10.0]]),
        "points": torch.tensor([[[5.0, 4.0], [9.0, 9.0]]]),
        "point_labels": torch.tensor([[1, -1]]),
    }
    prompt = _prompt_in_original_pixels(batch, 0)
    np.testing.assert_allclose(prompt["box"], [6, 4, 24, 20])
    batch["prompt_type"] = ["point"]
    np.testing.assert_allclose(_prompt_in_original_pixels(batch, 0)["points"], [[10, 8, 1]])
    item = {
        "image": torch.full((3, 20, 30), 100, dtype=torch.uint8),
        "gt": torch.zeros(40, 60),
        "masks": {"hq": torch.zeros(40, 60, dtype=torch.bool)},
        "scores": {"hq": {"iou": 0.5, "biou": 0.5}},
    }
    plain = overlay_picture(item)
    drawn = overlay_picture({**item, "prompt": prompt})
    assert plain.shape == drawn.shape and not np.array_equal(plain, drawn)
    assert (drawn.reshape(-1, 3) == drawing.PALETTE[0]).all(axis=1).any()  # the box's colour


def test_boxes_decoded_in_chunks_give_the_masks_of_one_batch(monkeypatch):
    from samhq_train.inference.prompt_file import ImagePrompts

    predictor = SamHQPredictor(build_sam_hq("vit_demo", seed=0))
    predictor.set_image(np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8))
    boxes = np.array([[5, 5, 50, 40], [10, 20, 70, 55], [0, 0, 30, 30]], np.float64)
    prompts = ImagePrompts(boxes, None, box_ids=[0, 1, 2], box_entries=3)
    options = batch_predict.BatchOptions(out=Path("unused"))
    masks, scores = batch_predict.decode(predictor, prompts, options)
    monkeypatch.setattr(batch_predict, "MASK_BUDGET", 2 * 60 * 80 * 4)  # two boxes per call
    calls = []
    predict = predictor.predict
    monkeypatch.setattr(
        predictor, "predict", lambda **kw: calls.append(len(kw["box"])) or predict(**kw)
    )
    chunked, chunked_scores = batch_predict.decode(predictor, prompts, options)
    assert calls == [2, 1]  # within the budget, and no call smaller than it needs
    assert masks.shape == chunked.shape == (3, 60, 80) and masks.dtype == bool
    np.testing.assert_array_equal(chunked, masks)
    np.testing.assert_allclose(chunked_scores, scores, atol=1e-6)
