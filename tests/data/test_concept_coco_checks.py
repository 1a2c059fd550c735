"""Concept data refusals: each bad json / image is one ConceptDataError (a UserError) line
naming the file and the entry, raised by the dataset's constructor before any image is decoded."""

from __future__ import annotations

import json

import pytest

from samhq_train.data import concept_sample
from samhq_train.data.concept_coco import ConceptDataError, read_concept_coco
from samhq_train.data.concept_dataset import ConceptDataset
from samhq_train.errors import UserError
from samhq_train.settings import SettingError
from tests.data.concept_helpers import edit_json, write_concept_set


def _ann(data, i=0):
    return data["annotations"][i]


CASES = {
    "not json": (None, "is not valid json"),
    "no images key": (lambda d: d.pop("images"), "'images' is missing or not a list"),
    "category id": (lambda d: d["categories"][0].update(id="x"), "categories[0] needs an int"),
    "empty name": (lambda d: d["categories"][1].update(name="  "), "categories[1] (id 1) has "
                   "an empty 'name'"),
    "duplicate category": (lambda d: d["categories"][1].update(id=3), "category id 3 appears "
                           "twice"),
    "no categories": (lambda d: d.update(categories=[]), "'categories' is empty"),
    "image id": (lambda d: d["images"][2].pop("id"), "images[2] needs an integer 'id'"),
    "file name": (lambda d: d["images"][2].pop("file_name"), "has no 'file_name'"),
    "image size": (lambda d: d["images"][2].update(width=0), "must be positive integers"),
    "missing image": (lambda d: d["images"][2].update(file_name="gone.png"),
                      "image file not found: "),
    "size mismatch": (lambda d: d["images"][2].update(width=99), "the json says 99x80 but"),
    "duplicate image": (lambda d: d["images"][2].update(id=3), "image id 3 appears twice"),
    "no images": (lambda d: d.update(images=[], annotations=[]), "'images' is empty"),
    "annotation": (lambda d: d["annotations"].append(7), "annotations[13] is not a json"),
    "unknown image": (lambda d: _ann(d, 4).update(image_id=9), "annotations[4] (id 14): "
                      "image_id 9 is not in 'images'"),
    "unknown category": (lambda d: _ann(d, 4).update(category_id=8), "category_id 8 is not in "
                         "'categories'"),
    "bbox form": (lambda d: _ann(d).update(bbox=[1, 2, 3]), "'bbox' must be 4 numbers"),
    "bbox string": (lambda d: _ann(d).update(bbox=[1, 2, "3", 4]), "'bbox' must be 4 numbers"),
    "bbox outside": (lambda d: _ann(d).update(bbox=[50, 5, 15.5, 10]), "bbox [50, 5, 15.5, 10] "
                     "(x, y, w, h) is not inside its 64x48 image a.png"),
    "bbox left": (lambda d: _ann(d).update(bbox=[-1.5, 5, 10, 10]), "is not inside its"),
    "bbox negative": (lambda d: _ann(d).update(bbox=[5, 5, -1, 10]), "is not inside its"),
    "iscrowd": (lambda d: _ann(d).update(iscrowd=2), "'iscrowd' must be 0 or 1, got 2"),
    "polygon": (lambda d: _ann(d).update(segmentation=[[1, 2, 3, 4]]), "the first segmentation "
                "polygon must have at least 3 (x, y) points"),
    "polygon odd": (lambda d: _ann(d).update(segmentation=[[1, 2, 3, 4, 5, 6, 7]]),
                    "a segmentation polygon"),
    "rle size": (lambda d: _ann(d, 1)["segmentation"].update(size=[48, 65]), "an RLE whose "
                 "'size' is the image's [48, 64]"),
    "rle counts": (lambda d: _ann(d, 2)["segmentation"]["counts"].append(3), "must be "
                   "non-negative integers summing to height x width"),
    "rle form": (lambda d: _ann(d, 1)["segmentation"].update(counts=5), "must be a string or a "
                 "list"),
    "rle string": (lambda d: _ann(d, 1)["segmentation"].update(counts="04"), "the RLE 'counts' "
                   "string must be COCO's compressed runs covering height x width"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_is_one_line_naming_the_file(tmp_path, monkeypatch, case):
    ann, images = write_concept_set(tmp_path)
    edit, expected = CASES[case]
    if edit is None:
        ann.write_text("{not json")
    else:
        edit_json(ann, edit)
    monkeypatch.setattr(concept_sample, "read_image", lambda path: pytest.fail("decoded"))
    with pytest.raises(ConceptDataError) as err:
        ConceptDataset(ann, images, training=True)
    message = str(err.value)
    assert isinstance(err.value, UserError) and "\n" not in message
    assert expected in message and str(ann.parent) in message


def test_missing_annotation_file_and_image_folder(tmp_path):
    ann, images = write_concept_set(tmp_path)
    with pytest.raises(ConceptDataError, match="annotation file not found: .*nope.json"):
        read_concept_coco(tmp_path / "nope.json", images)
    with pytest.raises(ConceptDataError, match="image folder not found: .*elsewhere"):
        read_concept_coco(ann, tmp_path / "elsewhere")
    ann.write_text(json.dumps([1]))
    with pytest.raises(ConceptDataError, match="expected a json object"):
        read_concept_coco(ann, images)


def test_positives_only_needs_an_annotation(tmp_path):
    ann, images = write_concept_set(tmp_path)
    edit_json(ann, lambda d: d.update(annotations=[]))
    assert len(ConceptDataset(ann, images, training=True)) == 5  # negatives only: allowed
    with pytest.raises(ConceptDataError, match="no image has an annotation"):
        ConceptDataset(ann, images, training=True, include_negatives=False)


def test_every_query_over_the_limit_is_refused_at_reading(tmp_path):
    """max_instances=0 without negatives drops every query of every datapoint: one line after
    Meta's 100 tries, not a loop."""
    ann, images = write_concept_set(tmp_path)
    dataset = ConceptDataset(ann, images, training=True, resolution=64, min_scale=32,
                             include_negatives=False, max_instances=0)
    with pytest.raises(ConceptDataError, match="raise max_instances"):
        dataset[0]


@pytest.mark.parametrize("setting, value, expected", [
    ("resolution", 16, "data.resolution=16: expected an integer >= 32"),
    ("min_scale", 200, "data.min_scale=200: expected an integer from 1 to 128"),
    ("categories_per_datapoint", 0, "data.categories_per_datapoint=0: expected an integer >= 1"),
    ("num_images", 2.5, "data.num_images=2.5: expected an integer >= 1"),
    ("max_instances", -1, "data.max_instances=-1: expected an integer >= 0"),
    ("seed", "x", "data.seed=x: expected an integer"),
])
def test_settings_out_of_range_are_refused_before_reading(tmp_path, setting, value, expected):
    kwargs = {"resolution": 128, "min_scale": 64, setting: value}
    with pytest.raises(SettingError) as err:
        ConceptDataset(tmp_path / "never read.json", tmp_path, training=True, **kwargs)
    assert str(err.value).startswith(expected)
