"""Checkpoint helpers for training: atomic local writes and the random state of every process.

Lightning writes local checkpoints through an fsspec transaction whose temporary file lives in the
system temp folder; across file systems the final move is a copy into the target path, so a crash
during it leaves a truncated file where a good one was. `AtomicCheckpointIO` writes a temporary
file next to the target and renames it over the target (atomic on POSIX), through the model's
checkpoint I/O.

Nothing bad replaces a good checkpoint: weights with a NaN or inf are refused (NonFiniteError,
one line naming the tensor) before the file is opened, and a full disk (DiskFullError, from
atomic_write) leaves the previous file intact; `reporting_full_disk` (resume.py) adds the
command that resumes the run from its last checkpoint. Under DDP only rank 0 writes while the
others wait for it: `stop_together_on_failed_writes` makes every process learn how the write went,
so that all of them stop at that step in one line each (not the others in a broken collective).

What a signal during training does (a checkpoint of the running step, the resume command) is in
interrupt.py and resume.py.
"""

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities import rank_zero_warn

from samhq_train.distributed import RankStopped, gather_from_ranks, stop_together
from samhq_train.files import atomic_write, tensor_bytes
from samhq_train.finite import NonFiniteError, describe_non_finite, non_finite_names
from samhq_train.model.formats.base import PROVENANCE_KEY
from samhq_train.model.formats.lightning import provenance_of
from samhq_train.model.formats.saving import plain_model, save_checkpoint
from samhq_train.model.formats.torch_files import write_official
from samhq_train.model.provenance import whole_model_record


class AtomicCheckpointIO(TorchCheckpointIO):
    """TorchCheckpointIO whose local saves are write-temporary-then-rename, of finite weights
    only; URLs go to Lightning."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path, storage_options: Any | None = None
    ) -> None:
        check_finite_weights(checkpoint, path)
        if "://" in str(path) or storage_options is not None:
            return super().save_checkpoint(checkpoint, path, storage_options)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(
            path, lambda tmp: torch.save(checkpoint, tmp), size_hint=tensor_bytes(checkpoint)
        )


def stop_together_on_failed_writes(strategy) -> None:
    """Make `strategy.save_checkpoint` collective about failures. Under DDP only global rank 0
    writes a checkpoint while the others go on to a barrier; a write that fails (a full disk, a
    refused non-finite weight) would leave them there until the process group breaks, each with
    a collective's traceback. Wrapped, every process learns each write's outcome (one small
    all-gather per checkpoint, distributed.stop_together) and, when one failed, all stop at that
    step: the failing process with its own error, the others with RankStopped naming it and its
    reason (exit 2)."""
    write = strategy.save_checkpoint

    def save_checkpoint(checkpoint, filepath, storage_options=None) -> None:
        if strategy.world_size == 1:
            return write(checkpoint, filepath, storage_options=storage_options)
        stop_together(lambda: write(checkpoint, filepath, storage_options=storage_options))

    strategy.save_checkpoint = save_checkpoint


def check_finite_weights(checkpoint: dict[str, Any], path=None, when: str = "") -> None:
    """NonFiniteError (one line naming the tensor) if a weight of the checkpoint (its state_dict:
    the trained tensors only, a few MB) holds a NaN or an inf. path: the file it is for, if known;
    when: where the run is ("at epoch 3, step 120")."""
    state = checkpoint.get("state_dict") or {}
    bad = non_finite_names(state)
    if not bad:
        return
    if path is None:
        what, kept = f"a checkpoint {when}".rstrip(), "earlier checkpoints are intact"
    else:
        exists = Path(path).exists()
        what = f"the checkpoint {path}"
        kept = f"the previous {Path(path).name} is intact" if exists else "nothing was written"
    raise NonFiniteError(
        f"not writing {what}: the weight {describe_non_finite(bad, state)}, the run diverged; "
        f"{kept}: lower optimizer.lr, set trainer.gradient_clip_val or use trainer.precision=32, "
        "and run again"
    )


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


def restore_own_rng_states(states: list[dict[str, Any]], rank: int, world_size: int) -> None:
    """Set this process's random states from a checkpoint's gather_rng_states() (with a warning
    when another number of processes wrote them: then not exact)."""
    if len(states) != world_size:
        rank_zero_warn("the checkpoint was written by a different number of processes: "
                       "random states are not restored exactly")
    set_rng_states(states[rank % len(states)])


def gather_rng_states() -> list[dict[str, Any]]:
    """The random states of all processes (index = global rank); a one-element list without DDP."""
    return gather_from_ranks(collect_rng_states())


def export_whole_model(model, path: Path, trained_hq: bool) -> Path:
    """A concept or video run's end-of-run export: the whole model in Meta's layout (LoRA
    merged); without the HQ parts when they were never trained (`trained_hq`, as the run's
    checkpoints record it), so that whatever loads the file knows it as plain SAM 2.1 / SAM 3
    (format sam: load_checkpoint's untrained_hq, a video run's video.use_hq default)."""
    if trained_hq:
        return save_checkpoint(model, path, "sam_hq")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_official(plain_model(model), path, with_hq=False)
    return path


class RecordWholeModel(Callback):
    """Writes the record of a concept or video run into each of its checkpoints (last, best,
    interrupted): it holds the whole model, and whether its HQ parts are trained weights
    (`trained_hq`: the start file held trained ones, or the run trains them). A resumed run's
    HQ parts are trained when the checkpoint it resumes says so too (its record checked, as
    every record read from a file; one written before the record counts as trained)."""

    def __init__(self, trained_hq: bool) -> None:
        self.trained_hq = trained_hq

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        path = trainer.ckpt_path
        record = provenance_of(checkpoint, Path(path) if path else None)
        self.trained_hq = self.trained_hq or record.trained_hq is not False

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        checkpoint[PROVENANCE_KEY] = whole_model_record(self.trained_hq).to_dict()


def last_and_best(folder: Path, monitor: str | None, trained_hq: bool) -> list[Callback]:
    """The video and concept runs' checkpoints: last.ckpt after every epoch and, when the run
    validates (`monitor`: its figure, higher is better), best.ckpt by that figure; each (and an
    interrupted run's) with the record RecordWholeModel(trained_hq) writes."""
    callbacks = [RecordWholeModel(trained_hq),
                 ModelCheckpoint(dirpath=folder, filename="last", save_top_k=1,
                                 enable_version_counter=False, save_on_train_epoch_end=True)]
    if monitor is not None:
        callbacks.append(ModelCheckpoint(dirpath=folder, filename="best", monitor=monitor,
                                         mode="max", save_top_k=1, enable_version_counter=False))
    return callbacks


__all__ = [
    "AtomicCheckpointIO",
    "RankStopped",
    "RecordWholeModel",
    "check_finite_weights",
    "collect_rng_states",
    "export_whole_model",
    "gather_rng_states",
    "last_and_best",
    "restore_own_rng_states",
    "set_rng_states",
    "stop_together_on_failed_writes",
]
