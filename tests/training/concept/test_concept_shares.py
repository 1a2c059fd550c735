"""Each process's share of the concept data under DDP (loaders.ProcessShare), the process group
stood in for: in training every process draws the one-process run's permutation of (seed,
epoch) and takes every N-th item of it, so the shares are disjoint and equal, their union the
permutation less its last (len mod N) items, and step k of N processes of batch B sees the items
of step k of one process with batch N x B; in validation the items in order, each once, the
shares unequal when they must be. The optimiser steps per epoch (the schedule's length) and the
refusals of sets too small for the process count; a batch that fails to load handed on to the
step (which stops every process with it) rather than raised in one process."""

from types import SimpleNamespace

import pytest
import torch
from omegaconf import OmegaConf

from samhq_train.data.image_files import DataError
from samhq_train.data.loaders import LoadFailure
from samhq_train.errors import ConfigValueError
from samhq_train.training.concept import loaders
from samhq_train.training.concept.loaders import (
    ProcessShare,
    ShareLoader,
)
from samhq_train.training.concept.run import check_shares, optimizer_steps_per_epoch


def shares(monkeypatch, items: int, processes: int, seed: int | None, epoch: int = 0):
    out = []
    for rank in range(processes):
        monkeypatch.setattr(loaders, "world_size", lambda: processes)
        monkeypatch.setattr(loaders, "global_rank", lambda rank=rank: rank)
        share = ProcessShare(range(items), seed)
        share.set_epoch(epoch)
        out.append(list(share))
        assert len(share) == len(out[-1])
    return out


@pytest.mark.parametrize("items", [7, 8])
def test_training_shares_deal_the_one_process_order(monkeypatch, items):
    (order,) = shares(monkeypatch, items, 1, seed=3, epoch=2)
    assert order == torch.randperm(items, generator=torch.Generator().manual_seed(
        3 * 1_000_003 + 2)).tolist()
    assert sorted(order) == list(range(items))
    two = shares(monkeypatch, items, 2, seed=3, epoch=2)
    assert len(two[0]) == len(two[1]) == items // 2
    assert not set(two[0]) & set(two[1])
    for step in range(items // 2):  # batch 1 each: the one-process run's batch 2 of that step
        assert {two[0][step], two[1][step]} == set(order[2 * step: 2 * step + 2])
    three = shares(monkeypatch, items, 3, seed=3, epoch=2)
    assert sum(three, []) and sorted(sum(three, [])) == sorted(order[: 3 * (items // 3)])
    assert shares(monkeypatch, items, 2, seed=3, epoch=3) != two  # a new order each epoch
    assert shares(monkeypatch, items, 2, seed=4, epoch=2) != two


def test_validation_shares_hold_each_item_once(monkeypatch):
    assert shares(monkeypatch, 5, 2, seed=None) == [[0, 2, 4], [1, 3]]
    assert shares(monkeypatch, 1, 2, seed=None) == [[0], []]
    assert shares(monkeypatch, 3, 1, seed=None) == [[0, 1, 2]]


def loader(items: int, batch: int):
    return SimpleNamespace(dataset=range(items), batch_size=batch)


def test_steps_per_epoch_count_a_process_share():
    trainer = OmegaConf.create({"accumulate_grad_batches": 1})
    assert optimizer_steps_per_epoch(trainer, loader(9, 2), 1) == 4
    assert optimizer_steps_per_epoch(trainer, loader(9, 2), 2) == 2  # 4 items each
    assert optimizer_steps_per_epoch(trainer, loader(9, 1), 2) == 4
    assert optimizer_steps_per_epoch(trainer, loader(9, 1), 3) == 3


def test_sets_smaller_than_the_processes_need_are_refused():
    check_shares(loader(4, 2), loader(2, 1), 2)
    with pytest.raises(ConfigValueError, match="the training set has 3 datapoints, fewer "
                       "than data.batch_size=2 for each of the 2 processes"):
        check_shares(loader(3, 2), None, 2)
    with pytest.raises(ConfigValueError, match=r"the validation set has 1 datapoints "
                       r"\(image x category chunk\), fewer than the 2 processes"):
        check_shares(loader(2, 1), loader(1, 1), 2)


class Items(torch.utils.data.Dataset):
    """Items 0..n-1; those in `bad` raise as an unreadable image does."""

    def __init__(self, n: int, bad=()):
        self.n, self.bad = n, set(bad)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> int:
        if index in self.bad or "all" in self.bad:
            raise DataError(f"cannot read image file {index}.jpg")
        return index


def test_a_batch_that_fails_to_load_is_handed_on_as_a_load_failure():
    batches = list(ShareLoader(Items(3, bad=[1]), batch_size=1, collate_fn=lambda b: b[0]))
    assert batches[0] == 0 and batches[2] == 2
    assert isinstance(batches[1], LoadFailure)
    assert str(batches[1].error) == "cannot read image file 1.jpg"
    failures = list(ShareLoader(Items(4, bad=["all"]), batch_size=2, collate_fn=list))
    assert len(failures) == 2 and all(isinstance(f, LoadFailure) for f in failures)
