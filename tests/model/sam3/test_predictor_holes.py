"""SAM 3's interactive predictions at Meta's defaults: SAM3InteractiveImagePredictor (what
Sam3Image.predict_inst runs) fills holes of up to max_hole_area = 256 low-res pixels by default.
Our SamHQPredictor, samhq-predict and the app's point / box page take that default from the SAM 3
family record; SAM 1 and SAM 2.1 fill none, as their official predictors. Same weights, image and
prompts against Meta's predictor built with its defaults and with max_hole_area=0."""

import importlib.util
import inspect
import json
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch

from samhq_train.app import command as app_command
from samhq_train.app.engine import Options
from samhq_train.cli import predict as predict_command
from samhq_train.inference import SamHQPredictor
from samhq_train.inference.predictor import PromptError
from samhq_train.model import load_checkpoint
from samhq_train.model.registry import FAMILIES

from .cases import BOX, CASES, LABELS, POINTS, make_image

HAVE_SAM3 = importlib.util.find_spec("sam3") is not None
needs_sam3 = pytest.mark.skipif(
    not HAVE_SAM3, reason="Meta's sam3 package is not installed (pip install sam3==0.1.4 --no-deps)"
)
BOXES = np.array([BOX, [10.0, 60.0, 120.0, 150.0]])  # a batch: every mask filled on its own
ATOL = 1e-5


def test_the_family_records_hold_the_official_defaults():
    assert FAMILIES["sam3"].image_fill_hole_area == 256
    assert FAMILIES["sam1"].image_fill_hole_area == 0 == FAMILIES["sam2"].image_fill_hole_area


@needs_sam3
def test_the_records_equal_metas_predictor_defaults():
    from sam2.sam2_image_predictor import SAM2ImagePredictor
    from sam3.model.sam1_task_predictor import SAM3InteractiveImagePredictor

    def default(cls):
        return inspect.signature(cls).parameters["max_hole_area"].default

    assert default(SAM3InteractiveImagePredictor) == FAMILIES["sam3"].image_fill_hole_area
    assert default(SAM2ImagePredictor) == FAMILIES["sam2"].image_fill_hole_area


def prompts(name: str, mask_input) -> dict:
    kwargs = {}
    if "box" in name:
        kwargs["box"] = np.array(BOX)
    if "points" in name:
        kwargs["point_coords"], kwargs["point_labels"] = np.array(POINTS), np.array(LABELS)
    if "mask" in name:
        kwargs["mask_input"] = mask_input
    return kwargs


def answers(predictor, **extra) -> dict:
    """Every case's (full-size logits, IoU, low-res logits), and a batch of two boxes'."""
    _, _, box_low = predictor.predict(box=np.array(BOX), multimask_output=False, **extra)
    out = {}
    for name, multimask in CASES:
        out[f"{name}/{multimask}"] = predictor.predict(
            multimask_output=multimask, return_logits=True, **prompts(name, box_low), **extra
        )
    out["boxes/False"] = predictor.predict(
        box=BOXES, multimask_output=False, return_logits=True, **extra
    )
    return out


def assert_answers_match(ours: dict, meta: dict) -> float:
    """The largest difference over every case's outputs (shapes equal)."""
    worst = 0.0
    for case, meta_outputs in meta.items():
        for got, want in zip(ours[case], meta_outputs):
            assert got.shape == want.shape, case
            worst = max(worst, float(np.abs(got - want).max()))
            assert worst < ATOL, case
    return worst


@pytest.fixture(scope="module")
def meta(tmp_path_factory):
    """Meta's predictor at its defaults and with max_hole_area=0 on one perturbed miniature, the
    image set; its weights as Meta's sam3.pt layout on disk; the image as a PNG."""
    from .meta_reference import build_meta_mini, meta_predictor

    tracker, unfilled, state = build_meta_mini(seed=1)
    root = tmp_path_factory.mktemp("sam3_holes")
    torch.save(state, root / "sam3.pt")
    image = make_image(seed=1)
    cv2.imwrite(str(root / "blobs.png"), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    default = meta_predictor(tracker)
    for predictor in (default, unfilled):
        predictor.set_image(image)
    return SimpleNamespace(
        default=default, unfilled=unfilled, file=root / "sam3.pt", image=image, root=root
    )


@needs_sam3
def test_our_predictor_equals_metas_at_its_default_and_with_no_filling(meta):
    ours = SamHQPredictor(load_checkpoint(meta.file))
    ours.set_image(meta.image)
    meta_default, meta_unfilled = answers(meta.default), answers(meta.unfilled)
    changed = [
        case
        for case in meta_default
        if not np.array_equal(meta_default[case][0], meta_unfilled[case][0])
    ]
    assert len(changed) >= len(meta_default) // 2, changed  # the cases have holes to fill
    assert assert_answers_match(answers(ours, use_hq=False), meta_default) < ATOL
    assert assert_answers_match(answers(ours, use_hq=False, fill_hole_area=0), meta_unfilled) < ATOL


@needs_sam3
def test_the_smallest_areas_fill_as_metas_predictor(meta):
    """Areas 1 and 5: holes of exactly that many low-res pixels are filled too (areas <= max)."""
    from .meta_reference import meta_predictor

    ours = SamHQPredictor(load_checkpoint(meta.file))
    ours.set_image(meta.image)
    unfilled = answers(meta.unfilled)
    for area in (1, 5):
        theirs = meta_predictor(meta.default.model, max_hole_area=area)
        theirs.set_image(meta.image)
        want = answers(theirs)
        assert any(not np.array_equal(want[c][0], unfilled[c][0]) for c in want), area
        assert assert_answers_match(answers(ours, use_hq=False, fill_hole_area=area), want) < ATOL


def test_a_bad_fill_hole_area_is_refused():
    from tests.reference import random_tiny_model

    predictor = SamHQPredictor(random_tiny_model())
    predictor.set_image(np.zeros((32, 40, 3), np.uint8))
    for bad in (-1, 2.5, True, "256"):
        with pytest.raises(PromptError, match="fill_hole_area"):
            predictor.predict(box=np.array([2, 2, 30, 20]), fill_hole_area=bad)


def metas_masks(predictor, boxes) -> np.ndarray:
    """Meta's single mask for each box with every point of POINTS (samhq-predict's --box and
    --point: the points join each box)."""
    return np.stack(
        [
            predictor.predict(
                point_coords=np.array(POINTS),
                point_labels=np.array(LABELS),
                box=box,
                multimask_output=False,
            )[0][0]
            for box in boxes
        ]
    )


@needs_sam3
@pytest.mark.parametrize("extra", [[], ["--fill-hole-area", "0"]])
def test_samhq_predict_fills_as_metas_predictor(meta, extra):
    out = meta.root / f"out{len(extra)}"
    boxes = [arg for box in BOXES.tolist() for arg in ["--box", *map(str, box)]]
    points = [
        arg
        for (x, y), label in zip(POINTS, LABELS)
        for arg in ["--point", str(x), str(y), str(label)]
    ]
    predict_command.main(
        [str(meta.root / "blobs.png"), "--checkpoint", str(meta.file), *boxes, *points, "--out",
         str(out), "--device", "cpu", *extra]
    )
    (record,) = json.loads((out / "predictions.json").read_text()).values()
    assert len(record["masks"]) == 2
    expected = metas_masks(meta.unfilled if extra else meta.default, BOXES)
    other = metas_masks(meta.default if extra else meta.unfilled, BOXES)
    assert (expected != other).sum() > 100  # holes filled, or not
    for i, want in enumerate(expected):
        written = cv2.imread(str(out / f"blobs_mask{i}.png"), cv2.IMREAD_GRAYSCALE) > 0
        np.testing.assert_array_equal(written, want > 0)


def test_samhq_predict_refuses_a_negative_area(capsys):
    with pytest.raises(SystemExit) as exit_info:
        predict_command.parse_args(["a.png", "--checkpoint", "x.pt", "--box", "1", "2", "3", "4",
                                    "--fill-hole-area", "-1"])
    assert exit_info.value.code == 2
    assert "--fill-hole-area -1: give 0 (off) or more" in capsys.readouterr().err


@needs_sam3
def test_the_apps_point_and_box_page_fills_as_metas_predictor(meta):
    """A box, then three clicks (each step decoded with the last step's low-res logits as its
    mask input, single-mask): the app's last masks are Meta's predictor's at its default."""
    segmenter = app_command.load_segmenter(
        app_command.parse_args([str(meta.file), "--device", "cpu"])
    )
    image_id = segmenter.set_image(meta.image, "blobs")["image_id"]
    steps = [{"box": BOX}] + [{"point": [*xy, label]} for xy, label in zip(POINTS, LABELS)]
    result, _ = segmenter.segment(image_id, steps, Options())
    finals = []
    for predictor in (meta.default, meta.unfilled):
        masks, low = None, None
        for n in range(len(steps)):
            masks, _, low = predictor.predict(
                point_coords=np.array(POINTS[:n]) if n else None,
                point_labels=np.array(LABELS[:n]) if n else None,
                box=np.array(BOX),
                mask_input=low,
                multimask_output=False,
            )
        finals.append(masks[0] > 0)
    assert (finals[0] != finals[1]).sum() > 100  # the last step has holes to fill
    np.testing.assert_array_equal(result.sam.mask, finals[0])
    np.testing.assert_array_equal(result.hq.mask, finals[0])  # Meta's file: plain SAM 3 both sides
