"""Mutation audit (round 11) of the concept json's segmentation check (concept_coco wiring of
coco_masks.segmentation_problem): falsy but malformed segmentations are refused at reading too,
and the stored forms come back as written."""

import pytest

from samhq_train.data.concept_coco import ConceptDataError, read_concept_coco
from tests.data.concept_helpers import edit_json, write_concept_set


@pytest.mark.parametrize("segmentation", [{}, "", 0, False])
def test_falsy_malformed_segmentations_are_refused(tmp_path, segmentation):
    ann, images = write_concept_set(tmp_path)
    edit_json(ann, lambda d: d["annotations"][0].update(segmentation=segmentation))
    with pytest.raises(ConceptDataError, match=r"annotations\[0\] .*; fix the json"):
        read_concept_coco(ann, images)


@pytest.mark.parametrize("segmentation", [None, []])
def test_no_segmentation_is_none(tmp_path, segmentation):
    ann, images = write_concept_set(tmp_path)
    edit_json(ann, lambda d: d["annotations"][0].update(segmentation=segmentation))
    assert read_concept_coco(ann, images).instances[0][0].segmentation is None
