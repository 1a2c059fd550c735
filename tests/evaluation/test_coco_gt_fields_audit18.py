"""Mutation audit 18: the edges of coco_gt_fields.check_gt_fields that audit 17's cases left
open (a non-finite number, an id that is no id (1.5), a zero height, an empty polygon, a bbox's h
or length, an RLE's [height, width] order on a non-square image, an uncompressed RLE starting
with 0)."""

import copy
import json

import pytest

from samhq_train.evaluation.coco_gt_fields import COCOEVAL_FIELDS
from samhq_train.evaluation.coco_inputs import read_coco_gt
from samhq_train.evaluation.errors import EvaluationError

GT = {  # one non-square image: 6 rows, 8 columns
    "images": [{"id": 1, "file_name": "1.png", "height": 6, "width": 8}],
    "annotations": [
        {"id": 5, "image_id": 1, "category_id": 1, "segmentation": [[1, 1, 4, 1, 4, 4]],
         "area": 4.5, "bbox": [1, 1, 3, 3], "iscrowd": 0},
    ],
    "categories": [{"id": 1, "name": "cat"}],
}
BOX = '"bbox" must be [x, y, w, h]'
BAD = {  # (entry kind, field, value, words the one line holds)
    "area-nan": ("annotations", "area", float("nan"), '"area" must be a number >= 0'),
    "bbox-infinity": ("annotations", "bbox", [0, 0, float("inf"), 1], BOX),
    "bbox-negative-h": ("annotations", "bbox", [0, 0, 1, -1], BOX),
    "bbox-five-numbers": ("annotations", "bbox", [0, 0, 1, 1, 1], BOX),
    "polygon-empty": ("annotations", "segmentation", [[]],
                      "the first segmentation polygon must have at least 3 (x, y) points"),
    "rle-width-first": ("annotations", "segmentation", {"counts": "0`0", "size": [8, 6]},
                        "an RLE whose 'size' is the image's [6, 8], got [8, 6]"),
    "image-height-0": ("images", "height", 0, 'image 1 has "height": 0, "width": 8'),
    "image-id-float": ("images", "id", 1.5, 'images[0] has "id": 1.5; give each image an id'),
}


def _written(tmp_path, gt) -> str:
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))  # NaN / Infinity as json.loads reads them
    return path


@pytest.mark.parametrize("case", BAD.values(), ids=BAD.keys())
def test_a_bad_value_is_refused_naming_the_field(tmp_path, case):
    kind, field, value, words = case
    gt = copy.deepcopy(GT)
    gt[kind][0][field] = value
    if (kind, field) == ("images", "id"):  # its annotation names it: only the id is bad
        gt["annotations"][0]["image_id"] = value
    with pytest.raises(EvaluationError, match="^" + str(tmp_path).replace("\\", "\\\\")) as info:
        read_coco_gt(_written(tmp_path, gt), required=COCOEVAL_FIELDS)
    assert words in str(info.value)


@pytest.mark.parametrize("segmentation", [
    {"counts": [0, 48], "size": [6, 8]},  # uncompressed, starting on the object: a run of 0
    {"counts": "`1", "size": [6, 8]},  # [height, width] of the non-square image
], ids=["uncompressed-starting-with-0", "compressed-height-first"])
def test_an_rle_of_the_image_size_is_read(tmp_path, segmentation):
    gt = copy.deepcopy(GT)
    gt["annotations"][0]["segmentation"] = segmentation
    assert read_coco_gt(_written(tmp_path, gt), required=COCOEVAL_FIELDS).dataset == gt
