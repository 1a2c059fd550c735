"""A batch one DDP process fails to load, without processes: the loader of a DDP run hands it on
as a LoadFailure (a data error or any other), and the step's one all-reduce before backward
carries [loss, failed], so the process that failed raises its own error and the other stops with
RankStopped naming it, with no collective beyond that all-reduce while nothing failed (the
process group stood in for; the 2-process runs are test_ddp_unreadable_image.py)."""

import types

import pytest
import torch
from torch.utils.data import Dataset

from samhq_train import distributed
from samhq_train.data.image_files import DataError
from samhq_train.data.loaders import LoadFailure, SampleLoader
from samhq_train.distributed import RankStopped
from samhq_train.training.divergence import check_loss
from samhq_train.training.step_failures import stop_at_failed_batch, stop_together_on_failure

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


def fake_trainer(reduced: list, others_failed: int = 0):
    """Rank of 2 whose all-reduce (sum) records what it was given and adds the other process's
    [loss 0.25, failed]."""

    def reduce(tensor, reduce_op):
        assert reduce_op == "sum" and tensor.shape == (2,)
        reduced.append(tensor.tolist())
        return tensor + torch.tensor([0.25, float(others_failed)])

    return types.SimpleNamespace(world_size=2, strategy=types.SimpleNamespace(reduce=reduce),
                                 current_epoch=0, global_step=3)


def test_the_steps_loss_all_reduce_tells_the_others_of_a_failed_batch(monkeypatch):
    told = []

    def gather(reason):  # the all-gather (only after a failure): rank 1 failed
        told.append(reason)
        return [reason, str(BAD)]

    monkeypatch.setattr(distributed, "gather_from_ranks", gather)
    reduced: list = []
    check_loss(fake_trainer(reduced), torch.tensor(0.5))  # nothing failed: no gather
    assert reduced == [[0.5, 0.0]] and told == []
    with pytest.raises(RankStopped) as info:  # rank 0, rank 1 failed
        check_loss(fake_trainer(reduced, others_failed=1), torch.tensor(0.5))
    assert str(info.value) == f"rank 1 stopped: {BAD}" and told == [None]
    monkeypatch.setattr(distributed, "gather_from_ranks", lambda reason: [None, reason])
    reduced.clear()
    with pytest.raises(DataError) as raised:  # rank 1: joins the all-reduce, then raises
        stop_at_failed_batch(fake_trainer(reduced), BAD, torch.device("cpu"))
    assert raised.value is BAD and reduced == [[0.0, 1.0]]


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
