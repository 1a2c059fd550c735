"""Audit 21: data/coco_annotations' rules term by term (a data=coco json's entries, which
annotations are samples and why the others are not, an image entry's size against its file)."""

from pathlib import Path

import pytest

from samhq_train.data.coco_annotations import (
    NO_SEGMENTATION_HINT,
    json_size_problem,
    left_out_reason,
    no_instance_error,
    require_coco_entries,
    require_unique_ids,
)
from samhq_train.data.image_files import DataError

JSON = Path("ann.json")
POLY = [[0, 0, 4, 0, 4, 4]]


def entries(**changed):
    dataset = {"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [],
               "categories": [{"id": 1, "name": "x"}]}
    return {**dataset, **changed}


@pytest.mark.parametrize("key", ["images", "annotations", "categories"])
def test_each_of_the_three_lists_is_required(key):
    dataset = entries()
    del dataset[key]
    with pytest.raises(DataError, match=f"ann.json: '{key}' is missing or not a list of objects"):
        require_coco_entries(dataset, JSON)


def test_a_list_holding_a_non_object_is_refused():
    with pytest.raises(DataError, match="'categories' is missing or not a list of objects"):
        require_coco_entries(entries(categories=[1]), JSON)


@pytest.mark.parametrize("name", ["", 7, None])
def test_an_image_without_a_file_name_path_is_refused(name):
    images = [{"id": 1, "file_name": "a.jpg"}, {"id": 9, "file_name": name}]
    with pytest.raises(DataError, match=r"images\[1\] \(id 9\) has 'file_name'"):
        require_coco_entries(entries(images=images), JSON)
    require_coco_entries(entries(), JSON)  # a good one passes


def test_two_annotations_with_one_id_name_both_entries():
    anns = [{"id": 3}, {"id": 4}, {"id": 3}]
    with pytest.raises(DataError, match=r"annotations\[0\] and annotations\[2\] both have the "
                                        r"id 3"):
        require_unique_ids(anns, JSON)
    require_unique_ids([{"id": 3}, {"id": 4}], JSON)


def ann(**changed):
    return {"id": 5, "category_id": 1, "segmentation": POLY, "area": 16, "iscrowd": 0, **changed}


def reason(a, keep=None, min_area=0.0, crowd=False):
    return left_out_reason(a, JSON, keep, min_area, crowd)


@pytest.mark.parametrize("crowd", [2, -1, "1", 0.5])
def test_iscrowd_other_than_0_or_1_is_refused(crowd):
    with pytest.raises(DataError, match="annotation 5: 'iscrowd' must be 0 or 1"):
        reason(ann(iscrowd=crowd))


def test_crowd_left_out_unless_included_and_true_false_read_as_1_0():
    assert reason(ann(iscrowd=1)) == "crowd"
    assert reason(ann(iscrowd=True)) == "crowd"
    assert reason(ann(iscrowd=1), crowd=True) is None
    assert reason(ann(iscrowd=False)) is None
    assert reason(ann(iscrowd=0), crowd=True) is None


def test_other_categories_and_no_segmentation_are_left_out():
    assert reason(ann(category_id=2), keep={1}) == "of other categories"
    assert reason(ann(category_id=1), keep={1}) is None
    assert reason(ann(segmentation=[])) == "without a segmentation"
    assert reason({"id": 5, "category_id": 1}) == "without a segmentation"


def test_area_bound_is_inclusive_and_a_missing_area_kept():
    assert reason(ann(area=16), min_area=16) is None
    assert reason(ann(area=15.5), min_area=16) == "under min_area=16"
    assert reason(ann(area=None), min_area=16) is None


@pytest.mark.parametrize("area", [True, "16", [16]])
def test_an_area_that_is_no_number_is_refused(area):
    with pytest.raises(DataError, match="annotation 5: 'area' must be a number of pixels"):
        reason(ann(area=area))


def test_a_missing_size_asks_for_width_then_height_of_the_file():
    said = json_size_problem({"id": 1, "width": 30}, height=20, width=30)
    assert said == ("its image's entry in 'images' has no 'width' and 'height'; add them (30 and "
                    "20 for this file)")


def test_a_size_mismatch_is_said_width_by_height_both_ways():
    said = json_size_problem({"height": 30, "width": 20}, height=20, width=30)
    assert said == ("the json says 20x30 but the image is 30x20 (WxH); fix the json or the "
                    "image")
    assert json_size_problem({"height": 20, "width": 30}, height=20, width=30) is None


def test_no_instance_error_hint_and_counts():
    boxes = str(no_instance_error("set", JSON, 2, "2 without a segmentation", True))
    assert boxes == ("set: no usable instance in ann.json (of its 2 annotations: 2 without a "
                     f"segmentation); {NO_SEGMENTATION_HINT}")
    empty = str(no_instance_error("set", JSON, 0, "", False))
    assert empty == ("set: no usable instance in ann.json (of its 0 annotations: none); lower "
                     "min_area or check the file")
