"""samhq-predict's parts without the command: distinct output stems (case-insensitive), each
input image once, the overlay's numbers are the prompt file's box entries, and the decoder
options reach every box."""

import cv2
import numpy as np

from samhq_train.inference import SamHQPredictor, batch_predict
from samhq_train.inference.batch_predict import BatchOptions, decode, predict_image
from samhq_train.inference.predict_files import list_images, output_stems
from samhq_train.inference.prompt_file import ImagePrompts
from tests.reference import random_tiny_model


def test_stems_shared_up_to_case_get_distinct_names(tmp_path):
    images = [tmp_path / "a" / "Cat.png", tmp_path / "b" / "cat.jpg", tmp_path / "dog.png"]
    stems = output_stems(images)
    assert stems == {images[0]: "Cat_png", images[1]: "cat_jpg", images[2]: "dog"}


def test_each_image_is_listed_once_whatever_the_path_and_suffix_case(tmp_path):
    (tmp_path / "in").mkdir()
    for name in ("b.PNG", "a.jpg", "notes.txt"):
        (tmp_path / "in" / name).write_bytes(b"x")
    same = tmp_path / "in" / ".." / "in" / "a.jpg"
    found = list_images([str(tmp_path / "in"), str(same)])
    assert [p.name for p in found] == ["a.jpg", "b.PNG"]


def _image(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "img.png"), image)
    return image


def test_overlay_numbers_are_the_box_entries_of_the_prompt_file(tmp_path, monkeypatch):
    _image(tmp_path)
    seen = {}

    def overlay(image, masks, **kwargs):
        seen.update(kwargs)
        return image

    monkeypatch.setattr(batch_predict, "draw_overlay", overlay)
    prompts = ImagePrompts(
        np.array([[5.0, 5.0, 40.0, 40.0], [10.0, 8.0, 70.0, 50.0]]), None,
        box_ids=[0, 2], box_entries=3,  # entry 1 was left out
    )
    (tmp_path / "out").mkdir()
    options = BatchOptions(out=tmp_path / "out")
    predictor = SamHQPredictor(random_tiny_model(seed=0))
    result, problems = predict_image(predictor, tmp_path / "img.png", "img", prompts, options)
    assert problems == [] and seen["labels"] == [0, 2]
    assert [p.rsplit("/", 1)[-1] for p in result["masks"]] == ["img_mask0.png", "img_mask2.png"]


def test_hq_token_only_reaches_every_box(tmp_path):
    image = _image(tmp_path)
    predictor = SamHQPredictor(random_tiny_model(seed=0))
    predictor.set_image(image)
    boxes = np.array([[5.0, 5.0, 40.0, 40.0], [10.0, 8.0, 70.0, 50.0]])
    prompts = ImagePrompts(boxes, None, box_ids=[0, 1], box_entries=2)
    for hq_token_only in (False, True):
        options = BatchOptions(out=tmp_path, hq_token_only=hq_token_only)
        masks, scores = decode(predictor, prompts, options)
        expected, expected_scores, _ = predictor.predict(
            box=boxes, multimask_output=False, hq_token_only=hq_token_only
        )
        np.testing.assert_array_equal(masks, expected[:, 0])
        np.testing.assert_array_equal(scores, expected_scores[:, 0])
    only = decode(predictor, prompts, BatchOptions(out=tmp_path, hq_token_only=True))[0]
    both = decode(predictor, prompts, BatchOptions(out=tmp_path))[0]
    assert (only != both).any()  # the option changes these masks: the comparison can fail
