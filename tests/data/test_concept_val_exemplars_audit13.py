"""Validation exemplar prompts (audit 13): the drawn instance is a function of (seed, image,
category) and each of the three changes it, any instance of a query can be drawn; with masks,
the exemplar batch's per-instance targets (masks, their validity, object ids, boxes) are the
asked queries' own rows; every setting is checked."""

from __future__ import annotations

import pytest
import torch

from samhq_train.data.concept_batch import collate_concepts
from samhq_train.data.concept_dataset import ConceptDataset
from samhq_train.data.concept_val_exemplars import (
    ValExemplarSettings,
    exemplar_batch,
    val_exemplar_row,
)
from samhq_train.settings import SettingError
from tests.data.concept_helpers import write_concept_set


def test_the_draw_depends_on_seed_image_and_category_each():
    """Mutants: the category (or the image, or the seed) left out of the draw's key: every
    category of an image would ask the same row; the last row never drawn; always row 0."""
    assert val_exemplar_row(3, 7, 2, 5) == val_exemplar_row(3, 7, 2, 5)
    assert len({val_exemplar_row(3, 7, c, 5) for c in range(40)}) > 1
    assert len({val_exemplar_row(3, i, 2, 5) for i in range(40)}) > 1
    assert len({val_exemplar_row(s, 7, 2, 5) for s in range(40)}) > 1
    assert {val_exemplar_row(0, i, 1, 3) for i in range(200)} == {0, 1, 2}
    assert {val_exemplar_row(0, i, 1, 1) for i in range(20)} == {0}


def query_rows(num_boxes: torch.Tensor, q: int) -> slice:
    start = int(num_boxes[:q].sum())
    return slice(start, start + int(num_boxes[q]))


def test_the_exemplar_batch_keeps_the_asked_queries_own_instances_with_masks(tmp_path):
    """The masks path, which the comparison with Meta's batch (box-only) leaves out. (Keeping
    every query's masks, validity or object ids instead of the asked queries' rows is an
    equivalent mutant: the queries left out are those without instances, so they own no row.)"""
    ann, images = write_concept_set(tmp_path)
    ds = ConceptDataset(ann, images, training=False, resolution=64, with_masks=True,
                        categories_per_datapoint=2)
    text = collate_concepts([ds[i] for i in range(len(ds))])
    asked = exemplar_batch(text, ValExemplarSettings(seed=1))
    counts = text.targets.num_boxes
    queries = [q for q in range(len(counts)) if counts[q] > 0]
    assert len(queries) < len(counts)  # some query has no instance and is not asked
    got, want = asked.targets, text.targets
    assert got.masks is not None and got.is_valid_mask is not None
    assert not bool(want.is_valid_mask.all())  # an instance without a usable mask
    for k, q in enumerate(queries):
        mine, theirs = query_rows(got.num_boxes, k), query_rows(counts, q)
        for name in ("boxes", "masks", "is_valid_mask", "object_ids"):
            assert torch.equal(getattr(got, name)[mine], getattr(want, name)[theirs]), name
        n = int(counts[q])
        assert torch.equal(got.boxes_padded[k, :n], want.boxes_padded[q, :n])
        assert bool(got.is_exhaustive[k]) == bool(want.is_exhaustive[q])
        row = val_exemplar_row(1, int(text.image_ids[text.image_index[q]]),
                               int(text.category_ids[q]), n)
        assert torch.equal(asked.exemplar_boxes[k, 0], want.boxes_padded[q, row])
    assert len(got.masks) == len(got.boxes) == int(got.num_boxes.sum())


@pytest.mark.parametrize("key, settings, says", [
    ("data.val_exemplars", {"enabled": "yes"}, "true or false"),
    ("data.seed", {"seed": 1.5}, "an integer"),
    ("data.exemplar_keep_text", {"keep_text": 1}, "true or false"),
])
def test_every_setting_is_checked(key, settings, says):
    """Mutants: the enabled or the seed check left out."""
    with pytest.raises(SettingError, match=f"^{key}=.*: expected {says}"):
        ValExemplarSettings(**settings)
