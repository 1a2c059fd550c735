"""The fields of a COCO / LVIS GT json's entries are checked as it is read (read_coco_gt, through
samhq-evaluate's check stage): a bad one is one line naming the file, the entry and the field
(they were pycocotools' tracebacks, or figures over annotations COCOeval never matched)."""

import copy
import json

import pytest

from samhq_train.evaluation.coco_gt_fields import COCOEVAL_FIELDS
from samhq_train.evaluation.coco_inputs import read_coco_gt, read_coco_inputs
from samhq_train.evaluation.errors import EvaluationError

RLE = {"counts": "P2", "size": [8, 8]}  # 64 background pixels
GT = {
    "images": [{"id": 1, "file_name": "1.png", "height": 8, "width": 8}],
    "annotations": [
        {"id": 5, "image_id": 1, "category_id": 1, "segmentation": [[1, 1, 4, 1, 4, 4]],
         "area": 4.5, "bbox": [1, 1, 3, 3], "iscrowd": 0},
        {"id": 6, "image_id": 1, "category_id": 2, "segmentation": RLE, "area": 0,
         "bbox": [0, 0, 0, 0], "iscrowd": 1},
    ],
    "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}],
}
ANN = "annotations[1] (id 6)"
FIX = "; fix it in the json"
CASES = {
    "bbox-word": ("annotations", 1, "bbox", "x",
                  f'{ANN}: "bbox" must be [x, y, w, h] (numbers, w and h >= 0), got x' + FIX),
    "bbox-negative": ("annotations", 1, "bbox", [0, 0, -1, 2],
                      f'{ANN}: "bbox" must be [x, y, w, h] (numbers, w and h >= 0), got '
                      "[0, 0, -1, 2]" + FIX),
    "segmentation-number": ("annotations", 1, "segmentation", 3,
                            f"{ANN}: the segmentation must be polygons or an RLE whose 'size' is "
                            "the image's [8, 8], got None; fix the json"),
    "polygon-odd": ("annotations", 0, "segmentation", [[1, 1, 4, 1, 4]],
                    "annotations[0] (id 5): a segmentation polygon must be a list of (x, y) "
                    "number pairs; fix the json"),
    "polygon-first-2-points": ("annotations", 0, "segmentation", [[1, 1, 4, 4], [1, 1, 4, 1, 4, 4]],
                               "annotations[0] (id 5): the first segmentation polygon must have at "
                               "least 3 (x, y) points (pycocotools cannot read [1, 1, 4, 4]); fix "
                               "the json"),
    "rle-string-short": ("annotations", 1, "segmentation", {"counts": "04", "size": [8, 8]},
                         f"{ANN}: the RLE 'counts' string must be COCO's compressed runs covering "
                         "height x width; fix the json"),
    "rle-runs-short": ("annotations", 1, "segmentation", {"counts": [0, 60], "size": [8, 8]},
                       f"{ANN}: the RLE 'counts' must be non-negative integers summing to height "
                       "x width; fix the json"),
    "rle-size": ("annotations", 1, "segmentation", {"counts": "0`0", "size": [16, 16]},
                 f"{ANN}: the segmentation must be polygons or an RLE whose 'size' is the "
                 "image's [8, 8], got [16, 16]; fix the json"),
    "area-word": ("annotations", 1, "area", "big",
                  f'{ANN}: "area" must be a number >= 0 (pixels), got big' + FIX),
    "iscrowd-2": ("annotations", 1, "iscrowd", 2, f'{ANN}: "iscrowd" must be 0 or 1, got 2' + FIX),
    "image-id": ("annotations", 1, "image_id", 7,
                 f'{ANN} has "image_id": 7, which names no image of "images"; give the id of its '
                 "image"),
    "category-id": ("annotations", 1, "category_id", 3,
                    f'{ANN} has "category_id": 3, which names no category of "categories"; give '
                    "the id of its category"),
    "no-area": ("annotations", 1, "area", None, f'{ANN} has no "area"; the evaluation reads it'),
    "file-name-number": ("images", 0, "file_name", 5, 'image 1 has "file_name": 5; give the path '
                         "of its file under coco.image_dir"),
    "file-name-empty": ("images", 0, "file_name", "", 'image 1 has "file_name": \'\'; give the '
                        "path of its file under coco.image_dir"),
    "image-size": ("images", 0, "height", "8",
                   'image 1 has "height": 8, "width": 8; give its size in pixels (whole numbers)'),
    "duplicate-id": ("annotations", 1, "id", 5, 'two annotations have "id": 5; ids are unique'),
    "category-id-float": ("categories", 1, "id", 2.5,
                          'categories[1] has "id": 2.5; give each category an id (a number)'),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_bad_field_is_one_line_naming_the_entry(tmp_path, case):
    key, index, field, value, message = case
    gt = copy.deepcopy(GT)
    if value is None:
        del gt[key][index][field]
    else:
        gt[key][index][field] = value
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(gt))
    with pytest.raises(EvaluationError) as info:
        read_coco_gt(path, required=COCOEVAL_FIELDS)
    assert str(info.value) == f"{path}: {message}"


def test_good_entries_read_and_what_is_required_where(tmp_path):
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(GT))
    assert read_coco_gt(path, required=(*COCOEVAL_FIELDS, "bbox")).dataset == GT
    lvis = copy.deepcopy(GT)  # LVIS annotations carry no iscrowd; SA-Co's may lack a bbox
    for image in lvis["images"]:
        image.update(neg_category_ids=[], not_exhaustive_category_ids=[])
    for ann in lvis["annotations"]:
        del ann["iscrowd"], ann["bbox"]
    path.write_text(json.dumps(lvis))
    read_coco_gt(path, required=COCOEVAL_FIELDS)
    (tmp_path / "dets.json").write_text(json.dumps(
        [{"image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2], "score": 0.5}]))
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "1.png").write_bytes(b"")
    del lvis["annotations"][0]["segmentation"]  # the box-prompt run scores masks
    path.write_text(json.dumps(lvis))
    with pytest.raises(EvaluationError, match=r'annotations\[0\] \(id 5\) has no "segmentation"'):
        read_coco_inputs(path, tmp_path / "images", tmp_path / "dets.json")


def test_an_image_of_the_json_missing_from_the_folder_is_found_before_the_model(tmp_path):
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(GT))
    (tmp_path / "dets.json").write_text(json.dumps(
        [{"image_id": 1, "category_id": 1, "bbox": [1, 1, 2, 2], "score": 0.5}]))
    (tmp_path / "images").mkdir()
    with pytest.raises(EvaluationError) as info:  # it was found when the run reached it
        read_coco_inputs(path, tmp_path / "images", tmp_path / "dets.json")
    assert str(info.value) == (
        f"{tmp_path / 'images' / '1.png'}: image 1 of {path} is not there; give the folder that "
        "holds the json's images (coco.image_dir)")
    (tmp_path / "images" / "1.png").write_bytes(b"")
    read_coco_inputs(path, tmp_path / "images", tmp_path / "dets.json")
    with pytest.raises(EvaluationError) as info:  # it said "COCO image folder not found"
        read_coco_inputs(path, tmp_path / "images" / "1.png", tmp_path / "dets.json")
    assert str(info.value) == (
        f"coco.image_dir={tmp_path / 'images' / '1.png'} is a file, not a folder; give the folder "
        "that holds the json's images")
