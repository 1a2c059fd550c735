"""Validation exemplar prompts (data.val_exemplars) against Meta's visual evaluation batches:
Sam3ImageDataset with the validation transforms then TextQueryToVisual(probability=1.0) (sam3's
odinw_visual_only / odinw_text_and_visual), the queries without instances left out (they get no
box; Meta scores the positive split), batched by collate_fn_api, Meta's choice of instance made
ours: the same batch (exact). Then the choice: per (seed, image, category), whatever the batching
or the chunking; and None for a batch without instances."""

from __future__ import annotations

import pytest

from samhq_train.data.concept_batch import collate_concepts
from samhq_train.data.concept_dataset import ConceptDataset
from samhq_train.data.concept_exemplars import EXEMPLAR_PHRASE
from samhq_train.data.concept_val_exemplars import (
    ValExemplarSettings,
    exemplar_batch,
    val_exemplar_row,
)
from samhq_train.settings import SettingError
from tests.data.concept_helpers import write_concept_set

pytest.importorskip("sam3.train.data.sam3_image_dataset")
from sam3.train.data.collator import collate_fn_api  # noqa: E402
from sam3.train.transforms import filter_query_transforms as fq  # noqa: E402

from tests.data.test_concept_vs_meta import (  # noqa: E402
    RESOLUTION,
    assert_same_batch,
    meta_dataset,
)


class DropNegatives(fq.FilterDataPointQueries):
    """The find queries without an instance (Meta's positive split keeps none of their
    detections)."""

    def identify_queries_to_filter(self, datapoint) -> None:
        self.obj_ids_to_filter = set()
        self.find_ids_to_filter = {
            i for i, q in enumerate(datapoint.find_queries) if not q.object_ids_output}


class OurDraws:
    """In place of Meta's module `random` in TextQueryToVisual: always asked (probability 1),
    the instance our validation picks (given in query order)."""

    def __init__(self, picks: list[int]) -> None:
        self.picks = iter(picks)

    def random(self) -> float:
        return 0.0

    def choice(self, seq):
        return seq[next(self.picks)]


def _our_picks(batch, seed: int) -> list[int]:
    return [val_exemplar_row(seed, int(batch.image_ids[batch.image_index[q]]),
                             int(batch.category_ids[q]), int(count))
            for q, count in enumerate(batch.targets.num_boxes.tolist()) if count]


@pytest.mark.parametrize("keep_text", [False, True])
def test_exemplar_batch_equals_metas_visual_evaluation(tmp_path, monkeypatch, keep_text, capsys):
    ann, images = write_concept_set(tmp_path)
    ours_ds = ConceptDataset(ann, images, training=False, resolution=RESOLUTION,
                             categories_per_datapoint=2)
    samples = [ours_ds[i] for i in range(len(ours_ds))]
    positive = [i for i, s in enumerate(samples) if any(q.instances for q in s.queries)]
    assert len(positive) == 6 and len(samples) == 10  # image 4 and 2 more chunks: no instance
    text = collate_concepts([samples[i] for i in positive])
    settings = ValExemplarSettings(seed=5, keep_text=keep_text)
    ours = exemplar_batch(text, settings)

    meta_ds = meta_dataset(ann, images, training=False, masks=False, chunk=2)
    meta_ds._transforms = [*meta_ds._transforms, fq.TextQueryToVisual(1.0, keep_text),
                           fq.FlexibleFilterFindGetQueries(DropNegatives())]
    monkeypatch.setattr(fq, "random", OurDraws(_our_picks(text, seed=5)))
    meta = collate_fn_api([meta_ds[i] for i in positive], "all", repeats=1)["all"]
    assert_same_batch(meta, ours, masks=False)

    asked = int((text.targets.num_boxes > 0).sum())
    assert len(ours.phrases) == asked == 9 and int(ours.targets.num_boxes.sum()) == 13
    assert ours.exemplar_boxes.shape == (asked, 1, 4) and bool(ours.exemplar_labels.all())
    assert (EXEMPLAR_PHRASE in ours.phrases) != keep_text
    picks = _our_picks(text, seed=5)
    assert any(picks) and max(ours.targets.num_boxes.tolist()) > 1  # not always the first box


def test_the_choice_is_per_seed_image_and_category_only(tmp_path):
    """One batch of every datapoint or one batch each, two categories a datapoint or all:
    each (image, category) asks the same box; another seed asks another somewhere."""
    ann, images = write_concept_set(tmp_path)

    def asked(chunk, together, seed=0):
        ds = ConceptDataset(ann, images, training=False, resolution=64,
                            categories_per_datapoint=chunk)
        groups = [list(range(len(ds)))] if together else [[i] for i in range(len(ds))]
        found = {}
        for group in groups:
            batch = exemplar_batch(collate_concepts([ds[i] for i in group]),
                                   ValExemplarSettings(seed=seed))
            if batch is None:
                continue
            for q, image in enumerate(batch.image_index.tolist()):
                key = (int(batch.image_ids[image]), int(batch.category_ids[q]))
                found[key] = batch.exemplar_boxes[q, 0].tolist()
        return found

    reference = asked(2, together=True)
    assert len(reference) == 9
    assert asked(2, together=False) == asked(None, together=True) == reference
    assert asked(None, together=False) == reference
    assert asked(2, together=True, seed=1) != reference


def test_a_batch_without_instances_asks_nothing(tmp_path):
    ann, images = write_concept_set(tmp_path)
    ds = ConceptDataset(ann, images, training=False, resolution=64)
    empty = [i for i in range(len(ds)) if not any(q.instances for q in ds[i].queries)]
    assert len(empty) == 1  # image 4
    assert exemplar_batch(collate_concepts([ds[empty[0]]]), ValExemplarSettings()) is None


def test_settings_are_checked():
    with pytest.raises(SettingError, match="data.exemplar_keep_text=yes: expected true or false"):
        ValExemplarSettings(keep_text="yes")
