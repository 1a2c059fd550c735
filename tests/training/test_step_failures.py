"""A batch one DDP process fails to load, without processes: the loader of a DDP run hands it on
as a LoadFailure (a data error or any other), and the step's first all-reduce (check_loss's of
the loss, or a loss's of its normaliser) carries [value, failed], so the process that failed
raises its own error and the other stops with RankStopped naming it, with no collective beyond
that all-reduce while nothing failed (the process group stood in for: stand_in_group.py; the
2-process runs are test_ddp_unreadable_image.py). A failed validation batch is held until the
validation's end."""

import types

import pytest
import torch
from torch.utils.data import Dataset

from samhq_train import distributed
from samhq_train.data.image_files import DataError
from samhq_train.data.loaders import LoadFailure, SampleLoader
from samhq_train.distributed import RankStopped
from samhq_train.training.divergence import check_loss
from samhq_train.training.step_failures import (
    held_for_validation_end,
    mean_over_ranks_or_stop,
    stop_at_failed_batch,
    stop_together_on_failure,
)
from tests.training.stand_in_group import StandInGroup, other_failed

BAD = DataError("cannot read image file /d/0004.jpg: 0004.jpg is truncated")


class Samples(Dataset):
    """Sample i is {"i": i}; a bad index is an error sample (as PromptedDataset's), an index in
    `raising` raises (a bug, a dead worker)."""

    def __init__(self, n: int, bad=(), raising=()):
        self.n, self.bad, self.raising = n, set(bad), set(raising)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        if i in self.raising:
            raise RuntimeError(f"sample {i} broke")
        return {"error": str(BAD)} if i in self.bad else {"i": i}


def collate(samples: list[dict]) -> dict:
    bad = [s for s in samples if "error" in s]
    return bad[0] if bad else {"i": [s["i"] for s in samples]}


def test_a_ddp_runs_loader_hands_on_failed_batches_and_a_single_process_raises():
    loader = SampleLoader(Samples(4, bad=[2], raising=[3]), batch_size=1, collate_fn=collate)
    with pytest.raises(DataError, match="0004.jpg is truncated"):
        list(loader)
    loader.hands_over_failures = True
    batches = list(loader)
    assert batches[:2] == [{"i": [0]}, {"i": [1]}]
    assert isinstance(batches[2], LoadFailure) and str(batches[2].error) == str(BAD)
    assert isinstance(batches[3], LoadFailure) and str(batches[3].error) == "sample 3 broke"


TWO = types.SimpleNamespace(world_size=2, current_epoch=0, global_step=3)


def test_the_steps_loss_all_reduce_tells_the_others_of_a_failed_batch(monkeypatch):
    group = StandInGroup(monkeypatch, other=lambda t: torch.tensor([0.25, 0.0]))
    check_loss(TWO, torch.tensor(0.5))  # nothing failed: no gather
    assert group.reduced == [[0.5, 0.0]] and dict(group.calls) == {"all_reduce": 1}
    group = StandInGroup(monkeypatch, other=other_failed, reason=str(BAD))
    with pytest.raises(RankStopped) as info:  # rank 0, rank 1 failed
        check_loss(TWO, torch.tensor(0.5))
    assert str(info.value) == f"rank 1 stopped: {BAD}"
    assert dict(group.calls) == {"all_reduce": 1, "all_gather_object": 1}
    group = StandInGroup(monkeypatch)
    with pytest.raises(DataError) as raised:  # the failing process: joins, then raises
        stop_at_failed_batch(TWO, BAD, torch.device("cpu"))
    assert raised.value is BAD and group.reduced == [[0.0, 1.0]]


def test_a_loss_normaliser_is_the_mean_over_processes_or_stops(monkeypatch):
    assert mean_over_ranks_or_stop(3) == 3.0  # one process: no collective
    group = StandInGroup(monkeypatch, other=lambda t: torch.tensor([2.0, 0.0]))
    assert mean_over_ranks_or_stop(3) == 2.5
    assert group.reduced == [[3.0, 0.0]] and dict(group.calls) == {"all_reduce": 1}
    StandInGroup(monkeypatch, other=other_failed, reason=str(BAD))
    with pytest.raises(RankStopped, match="^rank 1 stopped: cannot read image file"):
        mean_over_ranks_or_stop(3)


def test_a_failed_validation_batch_is_held_until_the_validation_end():
    module = types.SimpleNamespace(trainer=TWO, val_failure=None)
    assert not held_for_validation_end(module, {"i": [0]})
    second = DataError("cannot read image file /d/0005.jpg")
    assert held_for_validation_end(module, LoadFailure(BAD))
    assert held_for_validation_end(module, LoadFailure(second))
    assert module.val_failure is BAD  # the first one
    alone = types.SimpleNamespace(trainer=types.SimpleNamespace(world_size=1), val_failure=None)
    with pytest.raises(DataError) as raised:
        held_for_validation_end(alone, LoadFailure(BAD))
    assert raised.value is BAD


def test_one_process_raises_at_once_and_a_validation_end_stops_together(monkeypatch):
    one = types.SimpleNamespace(world_size=1)
    with pytest.raises(DataError):
        stop_at_failed_batch(one, BAD, torch.device("cpu"))
    stop_together_on_failure(one, None)
    monkeypatch.setattr(distributed, "gather_from_ranks", lambda reason: [reason, str(BAD)])
    two = types.SimpleNamespace(world_size=2)
    with pytest.raises(RankStopped, match="^rank 1 stopped: cannot read image file"):
        stop_together_on_failure(two, None)
    with pytest.raises(DataError):
        stop_together_on_failure(two, BAD)
