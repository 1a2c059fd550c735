"""Mutation audit 19: what an epoch of the concept / video fine-tuning draws from, term by term.
A clip's generator is default_rng([seed, epoch, index]) (each of the three changes it); its MOSE
augmentations draw from Python's and torch's generators seeded from that one (so two clips draw
apart); the loader's shuffle takes the epoch, a DistributedSampler's too; follow() reads the
fit loop's counters; the fine-tuning modules set train mode when training starts, also when a
run resumes inside an epoch (no epoch start then)."""

import random
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset, DistributedSampler

from samhq_train.data.loaders import EpochSeededLoader
from samhq_train.data.moving_shapes import write_moving_shapes
from samhq_train.data.video_clips import VideoClipDataset
from samhq_train.data.video_transforms import ClipAugmentation, seeded_global_draws


@pytest.fixture(scope="module")
def shapes_root(tmp_path_factory):
    return write_moving_shapes(tmp_path_factory.mktemp("draws"), num_videos=1, num_frames=4,
                               size=16, num_objects=1)


def first_draw(root, monkeypatch, seed: int, epoch: int, index: int) -> int:
    """The first number item `index` of epoch `epoch` draws from the generator it gets."""
    got = []
    monkeypatch.setattr(VideoClipDataset, "clip",
                        lambda self, seq, rng: got.append(int(rng.integers(2**62))))
    clips = VideoClipDataset(root, image_size=16, num_frames=2, multiplier=4, seed=seed)
    clips.set_epoch(epoch)
    clips[index]
    return got[0]


def test_a_clips_generator_is_seeded_from_seed_epoch_and_index(shapes_root, monkeypatch):
    def expected(seed, epoch, index):
        return int(np.random.default_rng([seed, epoch, index]).integers(2**62))

    for key in [(5, 1, 2), (6, 1, 2), (5, 0, 2), (5, 1, 3)]:
        assert first_draw(shapes_root, monkeypatch, *key) == expected(*key), key
    assert len({first_draw(shapes_root, monkeypatch, *key)
                for key in [(5, 1, 2), (6, 1, 2), (5, 0, 2), (5, 1, 3)]}) == 4


def test_seeded_global_draws_seeds_both_generators_and_gives_them_back():
    torch_state, python_state = torch.get_rng_state(), random.getstate()
    with seeded_global_draws(7):
        inside = (torch.rand(3), random.random())
    assert torch.equal(torch.get_rng_state(), torch_state) and random.getstate() == python_state
    torch.manual_seed(7)
    random.seed(7)
    assert torch.equal(inside[0], torch.rand(3)) and inside[1] == random.random()


def test_two_clips_augmentations_draw_apart_and_each_again_alike(shapes_root, monkeypatch):
    drawn = []

    def recorded(self, seq, frames, ids):
        drawn.append((torch.rand(1).item(), random.random()))
        raise SystemExit  # the draws are what is looked at, not the pictures

    monkeypatch.setattr(VideoClipDataset, "_augmented", recorded)
    clips = VideoClipDataset(shapes_root, image_size=16, num_frames=2, multiplier=4,
                             augmentation=ClipAugmentation(), seed=5)
    for index in (0, 1, 0):
        with pytest.raises(SystemExit):
            clips[index]
    assert drawn[0] != drawn[1] and drawn[0] == drawn[2]


class Numbers(Dataset):
    """Items 0..n-1; records the epoch it is given."""

    def __init__(self, n: int):
        self.n, self.epoch = n, None

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        return index

    def set_epoch(self, epoch):
        self.epoch = epoch


def order(seed: int, epoch: int, sampler=None) -> list[int]:
    numbers = Numbers(24)
    kwargs = {"sampler": sampler(numbers)} if sampler else {"shuffle": True}
    loader = EpochSeededLoader(numbers, batch_size=1, seed=seed, epoch_of=lambda: epoch,
                               collate_fn=lambda items: items[0], **kwargs)
    drawn = list(loader)
    assert numbers.epoch == epoch
    return drawn


def test_the_shuffle_takes_the_seed_and_the_epoch():
    assert order(5, 1) == order(5, 1)
    assert order(5, 1) != order(5, 0)
    assert order(5, 1) != order(6, 1)


def test_a_distributed_samplers_order_takes_the_epoch():
    def sampler(numbers):
        return DistributedSampler(numbers, num_replicas=1, rank=0, shuffle=True, seed=3)

    assert order(5, 1, sampler) != order(5, 0, sampler)


def test_follow_reads_the_fit_loops_epoch_and_batches_done():
    current = SimpleNamespace(processed=3, ready=4, completed=2, started=4)
    batches = SimpleNamespace(ready=2, completed=1, started=2, processed=1)
    trainer = SimpleNamespace(fit_loop=SimpleNamespace(
        epoch_progress=SimpleNamespace(current=current),
        epoch_loop=SimpleNamespace(batch_progress=SimpleNamespace(current=batches))))
    loader = EpochSeededLoader(Numbers(4), batch_size=1)
    loader.follow(trainer)
    assert loader.epoch_of() == 3 and loader.batches_done() == 2


@pytest.mark.parametrize("where", ["video", "concept"])
def test_training_starts_in_train_mode_without_an_epoch_start(where):
    if where == "video":
        from samhq_train.training.video.module import VideoTrainModule as Module
    else:
        from samhq_train.training.concept.module import ConceptTrainModule as Module
    model = nn.Linear(2, 2).eval()
    Module.on_train_start(SimpleNamespace(model=model))  # a resumed run's only start hook
    assert model.training
