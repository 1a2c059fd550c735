"""Mutation audit 20: the training loader's resume and DDP padding, term by term. A loader told
its whole epoch is done starts a fresh one; each process resumes its epoch from its own saved
start (index = global rank); padded_repeats marks exactly the DistributedSampler's padding,
global position k >= n as copy k // n; a clip dataset keeps one epoch's repeats only."""

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset, DistributedSampler, SequentialSampler

from samhq_train.data import loaders
from samhq_train.data.loaders import EpochSeededLoader, TrainLoader, padded_repeats
from samhq_train.data.moving_shapes import write_moving_shapes
from samhq_train.data.video_clips import VideoClipDataset


class Numbers(Dataset):
    """Items 0..n-1 with the hooks the loaders call; records the RNG state it is given."""

    def __init__(self, n: int):
        self.n, self.given = n, []

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        return index

    def set_epoch(self, epoch):
        pass

    def rng_state(self):
        return None

    def set_rng_state(self, state):
        self.given.append(state)


def first(items):
    return items[0]


def test_a_loader_told_its_whole_epoch_is_done_starts_a_fresh_one():
    def epoch(done: int) -> list[int]:
        return list(EpochSeededLoader(Numbers(4), batch_size=1, shuffle=True, seed=3,
                                      collate_fn=first, batches_done=lambda: done))

    assert len(epoch(0)) == 4 and epoch(4) == epoch(0)
    assert epoch(3) == epoch(0)[3:]  # mid-epoch: the rest


def test_each_process_resumes_its_epoch_from_its_own_saved_start(monkeypatch):
    torch_state = torch.get_rng_state()
    starts = [{"torch": torch_state, "dataset": f"rank {rank}'s", "workers_carried_over": False}
              for rank in range(2)]
    monkeypatch.setattr(loaders, "global_rank", lambda: 1)
    numbers = Numbers(4)
    loader = TrainLoader(numbers, batch_size=1, collate_fn=first, batches_done=lambda: 1)
    loader.load_state_dict({"epoch_start": starts})
    assert list(loader) == [1, 2, 3]
    assert numbers.given == ["rank 1's"]


@pytest.mark.parametrize("n, ranks, expected", [
    (5, 3, [{}, {}, {0: 1}]),  # order 0 1 2 3 4 | 0: position 5 on rank 2
    (2, 5, [{}, {}, {0: 1}, {1: 1}, {0: 2}]),  # order 0 1 | 0 1 0: the second copy of 0
    (4, 2, [{}, {}]),  # even shares: no padding
])
def test_padded_repeats_are_the_samplers_padding_with_their_copy_number(n, ranks, expected):
    got = [padded_repeats(DistributedSampler(Numbers(n), num_replicas=ranks, rank=rank,
                                             shuffle=False)) for rank in range(ranks)]
    assert got == expected
    dropped = DistributedSampler(Numbers(5), num_replicas=3, rank=2, shuffle=False,
                                 drop_last=True)
    assert padded_repeats(dropped) == {} and padded_repeats(SequentialSampler(Numbers(5))) == {}


def test_a_clip_dataset_keeps_the_repeats_of_one_epoch_only(tmp_path, monkeypatch):
    """A run resumed in epoch e has no record of e - 1's padding: the uninterrupted run must not
    carry it over either, or an item padded then draws another clip now."""
    root = write_moving_shapes(tmp_path, num_videos=1, num_frames=4, size=16, num_objects=1)
    seen = []
    monkeypatch.setattr(VideoClipDataset, "clip",
                        lambda self, seq, rng: seen.append(int(rng.integers(2**62))))
    clips = VideoClipDataset(root, image_size=16, num_frames=2, multiplier=2, seed=5)
    clips.set_epoch(1)
    clips.set_repeats({0: 1})
    clips[0]
    clips.set_repeats({})  # the next epoch: item 0 is not padding
    clips[0]

    def draw(*key):
        return int(np.random.default_rng(key).integers(2**62))

    assert seen == [draw(5, 1, 0, 1), draw(5, 1, 0)]
