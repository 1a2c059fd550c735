"""A full disk on rank 0 while a DDP run writes a checkpoint: every process stops at that step,
each with one line and no traceback (the others do not die in the collective rank 0 left), the
run exits 2 and the previous checkpoint is intact."""

import errno
import os
import sys

import lightning as L
import pytest
import torch

from samhq_train import distributed
from samhq_train.files import DiskFullError
from samhq_train.training.checkpointing import RankStopped, stop_together_on_failed_writes
from tests.ddp_launch import run_launch
from tests.training.helpers import ROOT, SMALL, TINY

QUICK = [
    "trainer.max_epochs=3",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "validate_before_training=false",
    "export=false",
    "callbacks.best_checkpoint=null",
]


class FullDiskOnRank(L.Callback):
    """On global rank `rank`, the disk is full for every write of `name` after the first (its
    temporary gets a few bytes, then ENOSPC): the second epoch's last.ckpt cannot be written."""

    def __init__(self, rank: int, name: str = "last.ckpt") -> None:
        self.rank, self.name = rank, name

    def setup(self, trainer, pl_module, stage: str) -> None:
        if trainer.global_rank != self.rank:
            return
        real, name = torch.save, self.name

        def save(obj, f, *args, **kwargs):
            target = os.path.join(os.path.dirname(str(f)), name)
            if not os.path.basename(str(f)).startswith(f".{name}.") or not os.path.isfile(target):
                return real(obj, f, *args, **kwargs)
            with open(f, "wb") as handle:
                handle.write(b"PK" * 100)
            raise OSError(errno.ENOSPC, "No space left on device")

        torch.save = save


@pytest.mark.slow
def test_a_full_disk_on_rank_0_stops_every_ddp_process_with_one_line(tmp_path):
    out = tmp_path / "run"
    command = [
        sys.executable, "train.py", "trainer=ddp_sim", f"hydra.run.dir={out}",
        f"paths.output_dir={out}", f"data.root={tmp_path / 'data'}", *SMALL, *TINY, *QUICK,
        "+callbacks.full._target_=tests.training.test_ddp_disk_full.FullDiskOnRank",
        "+callbacks.full.rank=0",
    ]
    result = run_launch(command, cwd=ROOT, timeout=300)
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    last = out / "checkpoints" / "last.ckpt"
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    errors = sorted(lines, key=lambda ln: ln.startswith("error: rank 0 stopped: "))
    assert errors[0].startswith(f"error: no space left on the device writing {last}: "), errors
    assert "the previous last.ckpt is intact" in errors[0]
    assert "; resume with: python train.py " in errors[0] and errors[0].endswith(
        f"ckpt_path={last.resolve()}"
    )
    reason = errors[0].removeprefix("error: ").split("; resume with: ")[0]
    assert errors[1:] == [f"error: rank 0 stopped: {reason}"]  # rank 1's one line
    assert torch.load(last, weights_only=True)["epoch"] == 0  # epoch 0's, whole
    assert not [p for p in os.listdir(last.parent) if p.endswith(".tmp")]


class FakeStrategy:
    """Global rank `rank` of two: only rank 0 writes (as Lightning's strategies), with `error`."""

    world_size = 2

    def __init__(self, rank: int, error: Exception | None = None) -> None:
        self.rank, self.error, self.written = rank, error, []

    def save_checkpoint(self, checkpoint, filepath, storage_options=None) -> None:
        if self.rank == 0:
            if self.error is not None:
                raise self.error
            self.written.append(filepath)


def test_every_process_learns_how_rank_0s_write_went(monkeypatch):
    full = DiskFullError("no space left on the device writing /run/last.ckpt: free some space")
    told = []

    def gather(reason):  # the all-gather: this process's reason, rank 0's as given
        told.append(reason)
        return [str(full), reason]

    monkeypatch.setattr(distributed, "gather_from_ranks", gather)
    rank0, rank1 = FakeStrategy(0, full), FakeStrategy(1)
    for strategy in (rank0, rank1):
        stop_together_on_failed_writes(strategy)
    with pytest.raises(DiskFullError) as info:
        rank0.save_checkpoint({}, "/run/last.ckpt")
    assert info.value is full  # rank 0 raises its own error
    with pytest.raises(RankStopped) as info:
        rank1.save_checkpoint({}, "/run/last.ckpt")
    assert str(info.value) == f"rank 0 stopped: {full}"
    assert told == [str(full), None]
    monkeypatch.setattr(distributed, "gather_from_ranks", lambda reason: [None, None])
    ok = FakeStrategy(0)
    stop_together_on_failed_writes(ok)
    ok.save_checkpoint({}, "/run/last.ckpt")  # no failure anywhere: nothing raised
    assert ok.written == ["/run/last.ckpt"]


def test_a_bug_in_rank_0s_write_keeps_its_traceback_there(monkeypatch):
    bug = KeyError("state_dict")
    monkeypatch.setattr(distributed, "gather_from_ranks", lambda reason: [reason, None])
    rank0 = FakeStrategy(0, bug)
    stop_together_on_failed_writes(rank0)
    with pytest.raises(KeyError):
        rank0.save_checkpoint({}, "/run/last.ckpt")
    monkeypatch.setattr(
        distributed, "gather_from_ranks", lambda reason: ["KeyError: 'state_dict' (a bug: see "
                                                            "its traceback)", None]
    )
    rank1 = FakeStrategy(1)
    stop_together_on_failed_writes(rank1)
    with pytest.raises(RankStopped, match=r"^rank 0 stopped: KeyError: 'state_dict' \(a bug"):
        rank1.save_checkpoint({}, "/run/last.ckpt")
