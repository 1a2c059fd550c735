"""Ctrl+C (SIGINT) and SIGTERM during training: a checkpoint of the running step, and one report
that names it and the command that resumes the run.

`CheckpointOnInterrupt` turns the signal into: finish the running step, write a checkpoint of it
(through the atomic checkpoint I/O), stop. Resuming from it continues exactly where the run
stopped (the training loader re-draws the interrupted epoch's order). `reporting_interrupts`
wraps the fit: it prints that checkpoint (after a forced stop, the newest one the run wrote) and
the resume command, and exits with the shell's code for the signal.
"""

import contextlib
import shlex
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from lightning.pytorch.utilities import rank_zero_only

INTERRUPT_SIGNALS = (signal.SIGINT, signal.SIGTERM)
INTERRUPT_CHECKPOINT = "interrupted.ckpt"  # in checkpoints/, written when a signal stops training


class RunInterrupted(SystemExit):
    """Training stopped on a signal; exits with the shell's code for it (130 SIGINT, 143
    SIGTERM)."""

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
        code = int(
            trainer.strategy.reduce(
                torch.tensor(float(mine), device=trainer.strategy.root_device), reduce_op="max"
            )
        )
        if code:
            self.received = signal.Signals(code).name
            trainer.save_checkpoint(self.path, weights_only=False)  # a full one, and said so
            self.written = self.path
            raise RunInterrupted(self.received)

    def _restore_handlers(self) -> None:
        for sig, handler in self._previous.items():  # None: a handler set outside Python
            signal.signal(sig, signal.SIG_DFL if handler is None else handler)
        self._previous = {}


@rank_zero_only
def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def launch_overrides() -> list[str] | None:
    """The command-line overrides of this run under Hydra, else None (train() called directly)."""
    try:
        return list(HydraConfig.get().overrides.task)
    except ValueError:  # HydraConfig was not set
        return None


def launch_command() -> str:
    """How this run was started: the installed command, else the repository's train.py."""
    return "samhq-train" if Path(sys.argv[0]).name == "samhq-train" else "python train.py"


def resume_command(ckpt: Path | str) -> str:
    """`python train.py <this run's overrides> ckpt_path=<ckpt>` (or samhq-train ...)."""
    overrides = launch_overrides()
    kept = (
        ["<your overrides>"]
        if overrides is None
        else [shlex.quote(o) for o in overrides if not o.lstrip("+~").startswith("ckpt_path=")]
    )
    return " ".join([launch_command(), *kept, shlex.quote(f"ckpt_path={ckpt}")])


def last_checkpoint(trainer: L.Trainer, resumed_from: str | None) -> Path | None:
    """The checkpoint to resume from: the newest written by a callback that saves every epoch
    (monitor null: last.ckpt), else the newest any callback wrote, else the one resumed from."""
    every_epoch, others = [], [Path(resumed_from)] if resumed_from else []
    for cb in trainer.checkpoint_callbacks:
        paths = [Path(p) for p in (cb.last_model_path, cb.best_model_path) if p]
        (every_epoch if getattr(cb, "monitor", None) is None else others).extend(paths)
    for found in (every_epoch, every_epoch + others):
        found = [p for p in found if p.is_file()]
        if found:
            return max(found, key=lambda p: p.stat().st_mtime)
    return None


def interrupt_signal(trainer: L.Trainer, stop: CheckpointOnInterrupt) -> str:
    """The signal that stopped the run (a KeyboardInterrupt no handler saw counts as SIGINT)."""
    return stop.received or ("SIGTERM" if trainer.received_sigterm else "SIGINT")


@rank_zero_only
def report_interrupt(
    trainer: L.Trainer, resumed_from: str | None, stop: CheckpointOnInterrupt
) -> None:
    """Where the run stopped, the checkpoint to resume from and the command that does it."""
    signal_name = interrupt_signal(trainer, stop)
    where = f"epoch {trainer.current_epoch}, step {trainer.global_step}"
    if stop.written is not None:
        _say(
            f"interrupted ({signal_name}) at {where}; checkpoint of that step: {stop.written}\n"
            f"resume with: {resume_command(stop.written.resolve())}"
        )
        return
    ckpt = last_checkpoint(trainer, resumed_from)
    if ckpt is None:
        _say(
            f"interrupted ({signal_name}) at {where}, before the first checkpoint (written at the "
            "end of each epoch): nothing to resume, start the run again"
        )
        return
    _say(
        f"interrupted ({signal_name}) at {where}; last checkpoint: {ckpt}\n"
        f"resume with: {resume_command(ckpt.resolve())}"
    )


@contextlib.contextmanager
def reporting_interrupts(
    trainer: L.Trainer, stop: CheckpointOnInterrupt, resumed_from: str | None
) -> Iterator[None]:
    """Around trainer.fit / validate: an interrupted run is reported (report_interrupt) and ends
    with RunInterrupted (exit status 130 / 143); anything else passes through."""
    try:
        yield
    except (KeyboardInterrupt, SystemExit):  # Lightning turns Ctrl+C into sys.exit(1)
        if not trainer.interrupted:
            raise
        report_interrupt(trainer, resumed_from, stop)
        raise RunInterrupted(interrupt_signal(trainer, stop)) from None


__all__ = [
    "INTERRUPT_CHECKPOINT",
    "CheckpointOnInterrupt",
    "RunInterrupted",
    "last_checkpoint",
    "report_interrupt",
    "reporting_interrupts",
    "resume_command",
]
