"""A full disk under DDP outside the checkpoint writes. While the embedding cache is built (every
process writes its own share), whichever process meets it: every process stops with one line
and no traceback (none dies in the barrier), the run exits 2. During the end-of-run export (rank
0 alone writes, after every process finished training): rank 0's one line, exit 2."""

import errno
import sys

import lightning as L
import pytest

from tests.ddp_launch import run_launch
from tests.training.helpers import ROOT, SMALL, TINY

QUICK = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "validate_before_training=false",
    "callbacks.best_checkpoint=null",
]


def no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


class FullDiskForCache(L.Callback):
    """On global rank `rank`, every embedding-cache entry write meets a full disk."""

    def __init__(self, rank: int) -> None:
        self.rank = rank

    def setup(self, trainer, pl_module, stage: str) -> None:
        if trainer.global_rank == self.rank:
            from samhq_train.cache import store

            store.save_file = no_space


def run(tmp_path, *overrides):
    out = tmp_path / "run"
    command = [
        sys.executable, "train.py", "trainer=ddp_sim", f"hydra.run.dir={out}",
        f"paths.output_dir={out}", f"data.root={tmp_path / 'data'}", *SMALL, *TINY, *QUICK,
        *overrides,
    ]
    result = run_launch(command, cwd=ROOT, timeout=300)
    return out, result


@pytest.mark.slow
@pytest.mark.parametrize("rank", [0, 1])
def test_a_full_disk_while_ddp_processes_build_the_cache(tmp_path, rank):
    out, result = run(
        tmp_path, "data.cache.enabled=true", f"data.cache.dir={tmp_path / 'cache'}", "export=false",
        "+callbacks.full._target_=tests.training.test_ddp_disk_full_cache_export.FullDiskForCache",
        f"+callbacks.full.rank={rank}",
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    errors = sorted(lines, key=lambda ln: ln.startswith(f"error: rank {rank} stopped: "))
    assert errors[0].startswith(f"error: no space left on the device writing {tmp_path / 'cache'}")
    assert errors[0].endswith(": free some space (or write elsewhere) and run again")
    reason = errors[0].removeprefix("error: ")
    assert errors[1:] == [f"error: rank {rank} stopped: {reason}"]  # the other process's one line
    assert not (out / "checkpoints").exists()  # stopped before the first step


class FullDiskForExport(L.Callback):
    """On global rank 0, once fitting ended, every write into the run's export folder meets a
    full disk."""

    def on_fit_end(self, trainer, pl_module) -> None:
        if trainer.global_rank != 0:
            return
        import torch

        real = torch.save

        def save(obj, f, *args, **kwargs):
            if "/export/" in str(f):
                no_space()
            return real(obj, f, *args, **kwargs)

        torch.save = save


@pytest.mark.slow
def test_a_full_disk_during_the_ddp_end_of_run_export(tmp_path):
    out, result = run(
        tmp_path,
        "+callbacks.full._target_=tests.training.test_ddp_disk_full_cache_export.FullDiskForExport",
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    last = out / "checkpoints" / "last.ckpt"
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, lines  # rank 1 has nothing to write: its training ended normally
    assert lines[0].startswith(f"error: the end-of-run export to {out / 'export'} failed: no ")
    assert lines[0].endswith(f"samhq-export --checkpoint {last} --to hq_only sam_hq --out <folder>")
    assert last.is_file() and not list(out.glob("export/*"))
