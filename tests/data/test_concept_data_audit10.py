"""Mutation audit (round 10) of the concept data (concept_coco, concept_sample,
concept_transforms, concept_batch, concept_dataset): the json refusals the first cases do not
reach (a box past the bottom or top, a negative height, negative RLE runs, a zero height, an
empty RLE string), an empty mask under a box thinner than a pixel (Meta's DecodeRle), masks in
validation, a batch mixing masks, a query not exhaustive, a batch's .to() moving every tensor,
and min_scale against a resolution that is no multiple of 32."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from samhq_train.data import concept_sample
from samhq_train.data.concept_batch import collate_concepts
from samhq_train.data.concept_coco import ConceptDataError
from samhq_train.data.concept_dataset import ConceptDataset
from samhq_train.settings import SettingError
from tests.data.concept_helpers import edit_json, write_concept_set


def _ann(data, i=0):
    return data["annotations"][i]


def _negative_run(data):
    rle = _ann(data, 2)["segmentation"]  # uncompressed, on the 64 x 48 image
    rle["counts"] = [64 * 48 + 2, -2]


CASES = {
    "bbox below": (lambda d: _ann(d).update(bbox=[5, 30, 10, 19.5]), "bbox [5, 30, 10, 19.5] "
                   "(x, y, w, h) is not inside its 64x48 image a.png"),
    "bbox above": (lambda d: _ann(d).update(bbox=[5, -1.5, 10, 10]), "is not inside its"),
    "bbox negative height": (lambda d: _ann(d).update(bbox=[5, 5, 10, -1]), "is not inside its"),
    "rle negative run": (_negative_run, "must be non-negative integers summing to height x width"),
    "zero height": (lambda d: d["images"][2].update(height=0), "must be positive integers, got "
                    "100 x 0"),
    "empty rle string": (lambda d: _ann(d, 1)["segmentation"].update(counts=""),
                         "must be a string or a list"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_more_bad_input_is_one_line_naming_the_entry(tmp_path, monkeypatch, case):
    ann, images = write_concept_set(tmp_path)
    edit, expected = CASES[case]
    edit_json(ann, edit)
    monkeypatch.setattr(concept_sample, "read_image", lambda path: pytest.fail("decoded"))
    with pytest.raises(ConceptDataError) as err:
        ConceptDataset(ann, images, training=True)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_an_empty_mask_under_a_sub_pixel_box_is_one_pixel_as_metas(tmp_path):
    """Image 2's degenerate polygon (an empty mask) with a box 0.3 x 0.5 px: Meta's DecodeRle
    fills the box's truncated corners, at least one pixel each way."""
    from tests.data.test_concept_vs_meta import _pair, assert_same_batch, meta_dataset

    ann, images = write_concept_set(tmp_path)
    edit_json(ann, lambda d: _ann(d, 5).update(bbox=[50.6, 20.2, 0.3, 0.5]))
    meta_ds = meta_dataset(ann, images, training=True, masks=True)
    ours_ds = ConceptDataset(ann, images, training=True, resolution=128, min_scale=48,
                             with_masks=True)
    meta, ours = _pair(meta_ds, ours_ds, 1, 1, seed=11)
    assert ours.image_id == 2
    from sam3.train.data.collator import collate_fn_api

    assert_same_batch(collate_fn_api([meta], "all", with_seg_masks=True, repeats=1)["all"],
                      collate_concepts([ours]), masks=True)
    raw = concept_sample.decode_masks(concept_sample.load_sample(ours_ds.coco, 1, (3,)))
    assert raw.has_mask.tolist() == [True, False]  # the bar, and the 0-wide one without one
    assert raw.masks[0].nonzero().tolist() == [[20, 50]]


def test_validation_decodes_masks_when_asked(tmp_path):
    ann, images = write_concept_set(tmp_path)
    plain = ConceptDataset(ann, images, training=False, resolution=64)[0]
    sample = ConceptDataset(ann, images, training=False, resolution=64, with_masks=True)[0]
    assert plain.masks is None
    assert sample.masks.shape == (4, 64, 64) and sample.has_mask.all()
    assert sample.masks.flatten(1).any(1).all() and torch.equal(sample.boxes, plain.boxes)


def test_a_batch_mixing_masks_is_refused(tmp_path):
    ann, images = write_concept_set(tmp_path)
    with_masks = ConceptDataset(ann, images, training=False, resolution=64, with_masks=True)
    without = ConceptDataset(ann, images, training=False, resolution=64)
    with pytest.raises(ValueError, match="mixes samples with and without masks"):
        collate_concepts([without[0], with_masks[1]])


def test_min_scale_up_to_the_largest_multiple_of_32(tmp_path):
    """At resolution 100 the largest random side is 96: min_scale 97 would leave no side."""
    with pytest.raises(SettingError, match=r"data.min_scale=97: expected an integer from 1 to 96"):
        ConceptDataset(tmp_path / "never read.json", tmp_path, training=True, resolution=100,
                       min_scale=97)


def test_a_batch_moves_every_tensor(tmp_path):
    """.to() moves every tensor of the batch and its targets (the meta device: no copy)."""
    ann, images = write_concept_set(tmp_path)
    dataset = ConceptDataset(ann, images, training=False, resolution=64, with_masks=True)
    moved = collate_concepts([dataset[0], dataset[1]]).to("meta")
    tensors = [v for v in moved if torch.is_tensor(v)] + list(moved.targets)
    assert len(tensors) == 9 + 7 and all(t.device.type == "meta" for t in tensors)


def test_a_query_not_exhaustive_stays_so_in_the_batch(tmp_path):
    """A COCO json marks every query exhaustive; a sample whose query is not (Meta's
    is_exhaustive False) keeps that flag in its batch's targets."""
    ann, images = write_concept_set(tmp_path)
    sample = ConceptDataset(ann, images, training=False, resolution=64)[0]
    queries = list(sample.queries)
    queries[1] = replace(queries[1], is_exhaustive=False)
    batch = collate_concepts([replace(sample, queries=queries)])
    assert batch.targets.is_exhaustive.tolist() == [True, False, True]
