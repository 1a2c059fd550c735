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


def test_batches_cross_to_the_main_process_and_devices(tmp_path):
    """A batch pickles (loader workers send it back) and .to() keeps its form."""
    ann, images = write_concept_set(tmp_path)
    dataset = ConceptDataset(ann, images, training=True, resolution=64, min_scale=32,
                             with_masks=True)
    batch = collate_concepts([dataset[0], dataset[2]])
    for copy in (pickle.loads(pickle.dumps(batch)), batch.to("cpu")):
        assert type(copy) is type(batch) and type(copy.targets) is type(batch.targets)
        assert copy.phrases == batch.phrases and copy.texts == batch.texts
        assert all(torch.equal(a, b) for a, b in zip(copy.targets, batch.targets))
        assert torch.equal(copy.images, batch.images)
    assert batch.texts == ("red square", "blue disc", "green bar")
    assert batch.text_index.tolist() == [0, 1, 2, 0, 1, 2]
    assert batch.image_index.tolist() == [0, 0, 0, 1, 1, 1]
