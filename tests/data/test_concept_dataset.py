"""ConceptDataset's draws (a function of seed, epoch and index: repeatable, picklable for loader
workers) and the batch of a datapoint without any instance."""

from __future__ import annotations

import pickle

import torch

from samhq_train.data.concept_batch import collate_concepts
from samhq_train.data.concept_dataset import ConceptDataset
from tests.data.concept_helpers import write_concept_set


def _same(a, b) -> bool:
    return torch.equal(a.image, b.image) and torch.equal(a.boxes, b.boxes)


def test_draws_follow_seed_epoch_and_index_through_pickling(tmp_path):
    ann, images = write_concept_set(tmp_path)
    dataset = ConceptDataset(ann, images, training=True, resolution=96, min_scale=32, seed=3)
    first = [dataset[i] for i in range(len(dataset))]
    copy = pickle.loads(pickle.dumps(dataset))  # what a spawned loader worker receives
    assert all(_same(a, copy[i]) for i, a in enumerate(first))
    assert all(_same(dataset[i], a) for i in reversed(range(5)) for a in [first[i]])  # any order
    dataset.set_epoch(1)
    assert not all(_same(dataset[i], a) for i, a in enumerate(first))
    reseeded = ConceptDataset(ann, images, training=True, resolution=96, min_scale=32, seed=4)
    assert not all(_same(reseeded[i], a) for i, a in enumerate(first))


def test_validation_items_draw_nothing(tmp_path):
    ann, images = write_concept_set(tmp_path)
    dataset = ConceptDataset(ann, images, training=False, resolution=64)
    before = dataset[1]
    dataset.set_epoch(5)
    assert _same(before, dataset[1]) and before.image.shape == (3, 64, 64)


def test_a_datapoint_without_instances_batches_empty_targets(tmp_path):
    ann, images = write_concept_set(tmp_path)
    dataset = ConceptDataset(ann, images, training=True, resolution=64, min_scale=32,
                             with_masks=True)
    empty = dataset[3]  # image 4 has no annotation: three negative queries
    assert empty.image_id == 4
    batch = collate_concepts([empty])
    targets = batch.targets
    assert batch.phrases == ("red square", "blue disc", "green bar")
    assert targets.num_boxes.tolist() == [0, 0, 0] and targets.is_exhaustive.all()
    assert targets.boxes.shape == (0, 4) and targets.boxes_padded.shape == (3, 0, 4)
    assert targets.masks.shape == (0, 64, 64) and targets.object_ids.shape == (0,)
    assert batch.images.shape == (1, 3, 64, 64) and batch.image_index.tolist() == [0, 0, 0]
