"""Faults the DDP test drivers (concept/ddp_driver.py, video/ddp_driver.py) put into one process
of a run."""

import errno
import os

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
