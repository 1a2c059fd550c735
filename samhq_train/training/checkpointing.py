"""Checkpoint helpers for training: atomic local writes and the random state of every process.

Lightning writes local checkpoints through an fsspec transaction whose temporary file lives in the
system temp folder; across file systems the final move is a copy into the target path, so a crash
during it leaves a truncated file where a good one was. `AtomicCheckpointIO` writes a temporary
file next to the target and renames it over the target (atomic on POSIX), through the model's
checkpoint I/O.

`check_resume_checkpoint` asks samhq_train.model.formats.inspect whether a ckpt_path can resume a
run, before training starts: a file that cannot (missing, damaged, or another kind) is one line.

`CheckpointOnInterrupt` turns Ctrl+C (SIGINT) and SIGTERM during training into: finish the running
step, write a checkpoint of it (through the atomic checkpoint I/O), stop. Resuming from it continues
exactly where the run stopped (the training loader re-draws the interrupted epoch's order).
"""

import random
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities import rank_zero_only

from samhq_train.distributed import gather_from_ranks
from samhq_train.files import atomic_write
from samhq_train.model.formats import Use, inspect

INTERRUPT_SIGNALS = (signal.SIGINT, signal.SIGTERM)


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
    """`path` if it is a training checkpoint Lightning can resume from (inspect: Use.RESUME);
    else CheckpointError with one line naming the file, what it is and what to give instead."""
    inspect(path, use=Use.RESUME, setting="ckpt_path")
    return Path(path)


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


class RunInterrupted(SystemExit):
    """Training stopped on a signal; exits with the shell's code for it (130 SIGINT, 143 SIGTERM)."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(128 + signal.Signals[signal_name].value)


class CheckpointOnInterrupt(L.Callback):
    """Ctrl+C (SIGINT) or SIGTERM while training: stop at the end of the running training step
    (or, when validation is running, of the epoch), write `path` there and raise RunInterrupted.

    The signal only sets a flag: the checkpoint is written where the loops' state is whole (after
    an optimiser step, never mid-accumulation; the epoch's last batch waits for its validation),
    so that ckpt_path=`path` resumes exactly. A second signal stops at once (KeyboardInterrupt,
    no checkpoint). Under DDP all processes stop at the same step, whichever got the signal.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.received: str | None = None  # the first signal's name
        self.written: Path | None = None
        self._previous: dict = {}

    def on_train_start(self, trainer, pl_module) -> None:
        if threading.current_thread() is threading.main_thread():  # where Python runs handlers
            self._previous = {sig: signal.signal(sig, self._on_signal) for sig in INTERRUPT_SIGNALS}

    def _on_signal(self, signum, frame) -> None:
        if self.received is not None:
            self._restore_handlers()
            raise KeyboardInterrupt
        self.received = signal.Signals(signum).name
        _say(
            f"\n{self.received}: stopping at the end of this training step (or of the running "
            f"validation) with a checkpoint in {self.path}; {self.received} again stops at once, "
            "without one"
        )

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        stepped = (batch_idx + 1) % trainer.accumulate_grad_batches == 0
        if stepped and batch_idx + 1 < trainer.num_training_batches:
            self._stop_if_signalled(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self._stop_if_signalled(trainer)  # before last.ckpt is written for the epoch

    def on_train_end(self, trainer, pl_module) -> None:
        self._restore_handlers()
        if self.received:  # came after the last epoch's check: training is complete
            raise RunInterrupted(self.received)

    def on_exception(self, trainer, pl_module, exception) -> None:
        self._restore_handlers()

    def _stop_if_signalled(self, trainer) -> None:
        """Stop every process when any got a signal; all of them report the same one (SIGTERM
        over SIGINT when processes got different ones)."""
        mine = signal.Signals[self.received].value if self.received else 0
        code = int(trainer.strategy.reduce(
            torch.tensor(float(mine), device=trainer.strategy.root_device), reduce_op="max"
        ))
        if code:
            self.received = signal.Signals(code).name
            trainer.save_checkpoint(self.path)
            self.written = self.path
            raise RunInterrupted(self.received)

    def _restore_handlers(self) -> None:
        for sig, handler in self._previous.items():  # None: a handler set outside Python
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        self._previous = {}


@rank_zero_only
def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


__all__ = [
    "AtomicCheckpointIO",
    "CheckpointOnInterrupt",
    "RunInterrupted",
    "check_resume_checkpoint",
    "collect_rng_states",
    "gather_rng_states",
    "set_rng_states",
]
