"""Checkpoint helpers for training: atomic local writes and the random state of every process.

Lightning writes local checkpoints through an fsspec transaction whose temporary file lives in the
system temp folder; across file systems the final move is a copy into the target path, so a crash
during it leaves a truncated file where a good one was. `AtomicCheckpointIO` writes a temporary
file next to the target and renames it over the target (atomic on POSIX), through the model's
checkpoint I/O.

`check_resume_checkpoint` reads a ckpt_path before training starts and refuses, in one line, a file
that Lightning could not resume from (missing, damaged, or another kind of file).

What a signal during training does (a checkpoint of the running step, the resume command) is in
interrupt.py.
"""

import random
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from samhq_train.data.datamodule import gather_from_ranks
from samhq_train.model.checkpoints import CheckpointError, atomic_write, describe_read_error

RESUME_HINT = "ckpt_path resumes a run from its outputs/<run>/checkpoints/last.ckpt"


class AtomicCheckpointIO(TorchCheckpointIO):
    """TorchCheckpointIO whose local saves are write-temporary-then-rename; URLs go to Lightning."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path, storage_options: Any | None = None
    ) -> None:
        if "://" in str(path) or storage_options is not None:
            return super().save_checkpoint(checkpoint, path, storage_options)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: torch.save(checkpoint, tmp))


def check_resume_checkpoint(path: str | Path) -> Path:
    """`path` if it is a training checkpoint Lightning can resume from; else CheckpointError with
    one line naming the file, what it is and what to give instead."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"ckpt_path={path} not found: {RESUME_HINT}")
    if path.is_dir():
        raise CheckpointError(f"ckpt_path={path} is a folder: {RESUME_HINT} (a file)")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        if zipfile.is_zipfile(path) and "weights_only" in str(err):
            return path  # a complete archive holding Python objects: Lightning itself reads it
        raise CheckpointError(
            f"ckpt_path={path} cannot be read: {describe_read_error(path, err)}; {RESUME_HINT}"
        ) from None
    if isinstance(ckpt, dict) and "state_dict" in ckpt and "loops" in ckpt:
        return path
    if isinstance(ckpt, dict) and "state_dict" in ckpt:
        what = "a training checkpoint without the training state (no optimizer or loop state)"
    elif isinstance(ckpt, dict) and ckpt and all(isinstance(v, torch.Tensor) for v in ckpt.values()):
        what = (
            "plain model weights (an official or exported SAM / SAM-HQ file), not a training "
            f"checkpoint: to start training from it pass model.checkpoint={path}"
        )
    else:
        what = "not a training checkpoint"
    raise CheckpointError(f"ckpt_path={path} is {what}; {RESUME_HINT}")


def collect_rng_states() -> dict[str, Any]:
    """This process's torch / CUDA / numpy / Python random states, as tensors and plain values
    (loadable with torch.load(weights_only=True))."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, state, py_gauss = random.getstate()
    states = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "python": {"version": version, "state": list(state), "gauss": py_gauss},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    n = states["numpy"]
    np.random.set_state(
        (n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"])
    )
    p = states["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def gather_rng_states() -> list[dict[str, Any]]:
    """The random states of all processes (index = global rank); a one-element list without DDP."""
    return gather_from_ranks(collect_rng_states())


__all__ = [
    "AtomicCheckpointIO",
    "check_resume_checkpoint",
    "collect_rng_states",
    "gather_rng_states",
    "set_rng_states",
]
