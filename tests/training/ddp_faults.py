"""Faults the DDP test drivers (concept/ddp_driver.py, video/ddp_driver.py) put into one process
of a run, and what the run must then say."""

import errno
import os
from pathlib import Path

import torch

from samhq_train.distributed import global_rank


def full_disk_on_rank(rank: int) -> None:
    """On global rank `rank`, every write of last.ckpt after the first meets a full disk (its
    temporary gets a few bytes, then ENOSPC)."""
    real = torch.save

    def save(obj, f, *args, **kwargs):
        target = os.path.join(os.path.dirname(str(f)), "last.ckpt")
        if (global_rank() != rank or not os.path.basename(str(f)).startswith(".last.ckpt.")
                or not os.path.isfile(target)):
            return real(obj, f, *args, **kwargs)
        with open(f, "wb") as handle:
            handle.write(b"PK" * 100)
        raise OSError(errno.ENOSPC, "No space left on device")

    torch.save = save


def bug_on_rank(rank: int) -> None:
    """On global rank `rank`, the first checkpoint write (a step every process takes together:
    checkpointing.stop_together_on_failed_writes) raises a RuntimeError, a bug of ours rather
    than a user's error: that process dies with its traceback (exit 1)."""
    from lightning.pytorch.strategies import DDPStrategy

    real = DDPStrategy.save_checkpoint

    def save_checkpoint(self, checkpoint, filepath, storage_options=None):
        if global_rank() == rank:
            raise RuntimeError(f"a bug on rank {rank}")
        return real(self, checkpoint, filepath, storage_options=storage_options)

    DDPStrategy.save_checkpoint = save_checkpoint


def check_full_disk_stop(lines: list[str], last: Path) -> None:
    """The `error:` lines of a 2-process run whose rank 0 met full_disk_on_rank(0) writing `last`:
    rank 0's names the file, says the previous last.ckpt is intact and gives the resume command,
    rank 1's is `rank 0 stopped: ` and the same reason; that first last.ckpt is whole and no
    temporary file is left."""
    lines = sorted(lines, key=lambda ln: ln.startswith("error: rank 0 stopped: "))
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"error: no space left on the device writing {last}: "), lines
    reason, resume = lines[0].removeprefix("error: ").split("; resume with: ")
    assert "the previous last.ckpt is intact" in reason
    assert resume.endswith(f"ckpt_path={last.resolve()}")
    assert lines[1] == f"error: rank 0 stopped: {reason}"  # rank 1's one line
    assert torch.load(last, weights_only=False, map_location="cpu")["epoch"] == 0  # whole
    assert not [p for p in os.listdir(last.parent) if p.endswith(".tmp")]
