"""A bad entry of a COCO detections json (samhq-evaluate's box prompts) is one line naming the
file and the detection's index, read before any model work (read_coco_inputs); so is a GT json
of the wrong shape."""

import json

import pytest

from samhq_train.evaluation.coco import load_detections
from samhq_train.evaluation.coco_inputs import read_coco_inputs
from samhq_train.evaluation.errors import EvaluationError

GT = {
    "images": [{"id": 1, "file_name": "1.png", "height": 8, "width": 8}],
    "annotations": [],
    "categories": [{"id": 1, "name": "x"}],
}
BBOX = "bbox must be 4 numbers [x, y, w, h]"
GOOD = {"image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2], "score": 0.5}


@pytest.mark.parametrize(
    "bad, problem",
    [
        (dict(GOOD, bbox=["a", 1, 2, 2]), f"{BBOX}, got ['a', 1, 2, 2]"),
        (dict(GOOD, bbox=[1, 1, 2]), f"{BBOX}, got [1, 1, 2]"),
        (dict(GOOD, bbox="1 1 2 2"), f"{BBOX}, got 1 1 2 2"),
        (dict(GOOD, bbox=[1, None, 2, 2]), f"{BBOX}, got [1, None, 2, 2]"),
        (dict(GOOD, bbox=[1, [1], 2, 2]), f"{BBOX}, got [1, [1], 2, 2]"),
        (dict(GOOD, bbox=[1, 1, 2, -1]), "has a negative box size [1, 1, 2, -1]"),
        (dict(GOOD, bbox=[1, 1, -2, 1]), "has a negative box size [1, 1, -2, 1]"),
        (dict(GOOD, score="high"), "score must be a number, got high"),
        (dict(GOOD, score=True), "score must be a number, got True"),
        (dict(GOOD, score="inf"), "score must be a number, got inf"),
        (dict(GOOD, category_id=True), "category_id must be an id (a number), got True"),
        (dict(GOOD, image_id=[1]), "image_id must be an id (a number), got [1]"),
        ([1, 1, 2, 2], "is not a json object: [1, 1, 2, 2]"),
    ],
)
def test_bad_detection_names_file_and_index(tmp_path, bad, problem):
    gt, dets = tmp_path / "gt.json", tmp_path / "dets.json"
    gt.write_text(json.dumps(GT))
    dets.write_text(json.dumps([GOOD, bad]))
    with pytest.raises(EvaluationError) as info:
        read_coco_inputs(gt, tmp_path, dets)
    message = str(info.value)
    assert message.startswith(f"{dets}: detection 1") and message.endswith(problem), message
    assert "\n" not in message


def test_numbers_written_as_strings_still_read():
    (entry,) = load_detections([dict(GOOD, bbox=["1", "1", "2", "2"], score="0.5")], GT)[1]
    assert entry["box_xyxy"] == [1.0, 1.0, 3.0, 3.0] and entry["score"] == 0.5


def test_not_finite_box_is_refused():
    with pytest.raises(ValueError, match=r"detections: detection 0: bbox must be 4 numbers"):
        load_detections([dict(GOOD, bbox=[1, 1, float("nan"), 2])], GT)


@pytest.mark.parametrize(
    "content, found",
    [
        ([GT], "a json list, not an object"),
        ({k: v for k, v in GT.items() if k != "categories"},
         "'categories' missing or not a list of objects"),
        ({k: v for k, v in GT.items() if k != "annotations"},
         "'annotations' missing or not a list of objects"),
    ],
    ids=["list", "no-categories", "no-annotations"],
)
def test_a_gt_json_of_the_wrong_shape_is_one_line_naming_it(tmp_path, content, found):
    """pycocotools indexes these without an error; read_coco_gt (the COCO, LVIS and SA-Co GT
    reader) refuses them. Mutant: no shape check (a TypeError / KeyError traceback)."""
    gt, dets = tmp_path / "gt.json", tmp_path / "dets.json"
    gt.write_text(json.dumps(content))
    dets.write_text(json.dumps([GOOD]))
    with pytest.raises(EvaluationError) as info:
        read_coco_inputs(gt, tmp_path, dets)
    assert str(info.value) == (
        f"{gt} is not a COCO GT json ({found}); it needs 'images', 'annotations' and 'categories'"
    )
