"""Exemplar-box prompts in concept training batches against Meta's: Sam3ImageDataset with the
recipe's transforms plus TextQueryToVisual (before the recipe's RandomizeInputBbox), batched by
collate_fn_api, with the same random draws (module random and torch's generator, seeded per item):
the same exemplar boxes, labels, padding, phrases ("visual" or kept) and everything else (exact).
Then our draws per (seed, epoch, index) and the settings' refusals."""

from __future__ import annotations

import pickle

import pytest
import torch

from samhq_train.data.concept_batch import collate_concepts
from samhq_train.data.concept_dataset import ConceptDataset
from samhq_train.data.concept_exemplars import EXEMPLAR_PHRASE, ExemplarSettings
from samhq_train.settings import SettingError
from tests.data.concept_helpers import write_concept_set

pytest.importorskip("sam3.train.data.sam3_image_dataset")
from sam3.train.data.collator import collate_fn_api  # noqa: E402

from tests.data.test_concept_vs_meta import (  # noqa: E402
    MIN_SCALE,
    RESOLUTION,
    _pair,
    assert_same_batch,
    meta_dataset,
)

CASES = {  # (settings, with masks)
    "some visual, jitter bounded at 2 px": (ExemplarSettings(
        probability=0.6, box_noise_std=0.3, box_noise_max=2.0), True),
    "all, text kept, unbounded jitter, small boxes fall back": (ExemplarSettings(
        probability=1.0, keep_text=True, box_noise_std=0.5, box_noise_max=None,
        min_box_area=150.0), False),
    "all, exact boxes": (ExemplarSettings(probability=1.0, box_noise_std=0.0), False),
}


def _batches(tmp_path, settings, masks):
    ann, images = write_concept_set(tmp_path)
    meta_ds = meta_dataset(ann, images, training=True, masks=masks, exemplars=settings)
    ours_ds = ConceptDataset(ann, images, training=True, resolution=RESOLUTION,
                             min_scale=MIN_SCALE, with_masks=masks, exemplars=settings)
    pairs = [_pair(meta_ds, ours_ds, i, i, seed=2000 + i) for i in range(5)]
    meta = collate_fn_api([m for m, _ in pairs], "all", with_seg_masks=masks, repeats=1)["all"]
    return meta, collate_concepts([o for _, o in pairs])


def _is_a_target_box(box: torch.Tensor, targets) -> bool:
    return bool((targets.boxes == box).all(-1).any())


@pytest.mark.parametrize("case", list(CASES))
def test_exemplar_batches_equal_meta(tmp_path, case, capsys):
    settings, masks = CASES[case]
    meta, ours = _batches(tmp_path, settings, masks)
    assert_same_batch(meta, ours, masks)
    has_box = ~ours.exemplar_padding[:, 0]
    positive = ours.targets.num_boxes > 0
    assert ours.exemplar_boxes.shape[1] == 1 and not (has_box & ~positive).any()
    assert torch.equal(ours.exemplar_labels[:, 0], has_box.long())
    visual = torch.tensor([p == EXEMPLAR_PHRASE for p in ours.phrases])
    assert torch.equal(visual, has_box & (not settings.keep_text))
    exact = [_is_a_target_box(b, ours.targets) for b in ours.exemplar_boxes[has_box, 0]]
    if settings.probability < 1:  # 5 of the 9 positive queries
        assert 0 < int(has_box.sum()) < int(positive.sum()) and EXEMPLAR_PHRASE in ours.texts
    else:
        assert torch.equal(has_box, positive)
    if settings.box_noise_std == 0:
        assert all(exact)
    else:  # jittered; with min_box_area 150 px some small boxes kept exact
        assert not all(exact) and any(exact) == (settings.min_box_area > 0)


def test_draws_follow_seed_epoch_and_index(tmp_path):
    """Exemplars and their jitter repeat per (seed, epoch, index), in any order and in a
    pickled copy (a loader worker); another epoch draws others; probability 0 draws nothing,
    so the text-only batches are those of a dataset without exemplar settings."""
    ann, images = write_concept_set(tmp_path)

    def dataset(settings):
        return ConceptDataset(ann, images, training=True, resolution=96, min_scale=32, seed=3,
                              exemplars=settings)

    def items(ds, order=range(5)):
        found = {i: collate_concepts([ds[i]]) for i in order}
        return [found[i] for i in range(5)]

    def same(a, b):
        return all(torch.equal(x, y) for x, y in zip(
            (a.images, a.exemplar_boxes, a.exemplar_padding, a.targets.boxes),
            (b.images, b.exemplar_boxes, b.exemplar_padding, b.targets.boxes)))

    jittered = dataset(ExemplarSettings(probability=1.0))
    first = items(jittered)
    assert sum(int((~b.exemplar_padding).sum()) for b in first) == 9
    again = items(pickle.loads(pickle.dumps(jittered)), order=reversed(range(5)))
    assert all(same(a, b) for a, b in zip(first, again))
    jittered.set_epoch(1)
    assert not all(same(a, b) for a, b in zip(first, items(jittered)))
    text_only, zero = items(dataset(None)), items(dataset(ExemplarSettings(probability=0.0)))
    assert all(same(a, b) and a.phrases == b.phrases for a, b in zip(text_only, zero))
    assert all(b.exemplar_boxes.shape == (len(b.phrases), 0, 4) for b in zero)


def test_validation_stays_text_only(tmp_path):
    ann, images = write_concept_set(tmp_path)
    dataset = ConceptDataset(ann, images, training=False, resolution=64,
                             exemplars=ExemplarSettings(probability=1.0))
    batch = collate_concepts([dataset[i] for i in range(len(dataset))])
    assert batch.exemplar_boxes.shape[1] == 0 and EXEMPLAR_PHRASE not in batch.phrases


@pytest.mark.parametrize("field, value, expected", [
    ("probability", 1.5, "data.exemplar_probability=1.5: expected a number from 0 to 1"),
    ("keep_text", "yes", "data.exemplar_keep_text=yes: expected true or false"),
    ("box_noise_std", -0.1, "data.exemplar_box_noise_std=-0.1: expected a number >= 0"),
    ("box_noise_max", "far", "data.exemplar_box_noise_max=far: expected a number >= 0"),
    ("min_box_area", float("nan"), "data.exemplar_min_box_area=nan: expected a number >= 0"),
])
def test_settings_out_of_range_are_refused(field, value, expected):
    with pytest.raises(SettingError) as err:
        ExemplarSettings(**{field: value})
    assert str(err.value).startswith(expected) and "\n" not in str(err.value)


def test_the_exemplar_phrase_is_what_the_predictor_sends_with_boxes_alone():
    from samhq_train.inference.concept import EXEMPLAR_ONLY_TEXT

    assert EXEMPLAR_PHRASE == EXEMPLAR_ONLY_TEXT == "visual"
