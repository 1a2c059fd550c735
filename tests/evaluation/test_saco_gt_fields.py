"""SA-Co GT files: their entries checked as COCO / LVIS GT entries are (coco_gt_fields), the
segmentation score_pair reads required; a bad one was a pycocotools traceback mid-run or a
silently wrong figure."""

import json

import pytest

from samhq_train.evaluation.errors import EvaluationError
from samhq_train.evaluation.saco_metrics import read_saco_gt


def saco_gt() -> dict:
    image = {"id": 1, "file_name": "a.jpg", "height": 4, "width": 6, "text_input": "a cup",
             "is_instance_exhaustive": True}
    instance = {"id": 7, "image_id": 1, "category_id": 1, "iscrowd": 0, "area": 4.0,
                "segmentation": [[1, 1, 3, 1, 3, 3, 1, 3]]}
    return {"images": [image], "annotations": [instance],
            "categories": [{"id": 1, "name": "object"}]}


def write(tmp_path, gt) -> str:
    path = tmp_path / "saco.json"
    path.write_text(json.dumps(gt))
    return str(path)


# case -> (change to the annotation, what the line says after "annotations[0] (id 7)")
CASES = {
    "no segmentation": ({"segmentation": None}, ' has no "segmentation"; the evaluation reads it'),
    "rle of another size": (
        {"segmentation": {"size": [5, 6], "counts": "a"}}, ": the segmentation must be polygons "
        "or an RLE whose 'size' is the image's"),
    "iscrowd 2": ({"iscrowd": 2}, ': "iscrowd" must be 0 or 1, got 2'),
    "image_id of no pair": ({"image_id": 3}, ' has "image_id": 3, which names no image'),
    "negative area": ({"area": -1}, ': "area" must be a number >= 0'),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_instance_field_is_one_line_naming_it(tmp_path, case):
    change, says = CASES[case]
    gt = saco_gt()
    ann = gt["annotations"][0]
    ann.update(change)
    if ann["segmentation"] is None:
        del ann["segmentation"]
    path = write(tmp_path, gt)
    with pytest.raises(EvaluationError) as info:
        read_saco_gt(path)
    assert str(info.value).startswith(f"{path}: annotations[0] (id 7){says}"), info.value


def test_good_entries_read(tmp_path):
    assert read_saco_gt(write(tmp_path, saco_gt())).pair_ids == (1,)
