"""Ctrl+C (SIGINT) and SIGTERM during a run: stop within seconds wherever the signal arrives,
with a checkpoint of the training position where there is one to write.

`CheckpointOnInterrupt` holds the run's signal handlers from setup to the last export
(`catching_signals`) and knows what runs (`phase`). While training steps or an in-fit validation
run, the signal only sets a flag: the run stops at the end of the running training step, or of
the running validation batch, writes checkpoints/interrupted.ckpt through the atomic checkpoint
I/O and exits. Anywhere else (setup, the embedding cache build, a validation outside fit, the
end-of-run export) nothing is in memory that is not on disk already: it stops at once; files
being written are temporaries that are removed (files.atomic_write).

Stopped in a validation, the checkpoint records the training position from before that
validation (loop counters, random states), marked as an unfinished validation: resuming runs that
validation again from its first batch, then trains on exactly as the uninterrupted run would.

The report (which checkpoint, the command that resumes into the same run folder) is resume.py's.
"""

import os
import signal
import sys
import threading
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_only

from samhq_train.training.checkpointing import collect_rng_states, set_rng_states
from samhq_train.training.loop_progress import VAL_PROGRESS

INTERRUPT_SIGNALS = (signal.SIGINT, signal.SIGTERM)
INTERRUPT_CHECKPOINT = "interrupted.ckpt"  # in checkpoints/, written when a signal stops training


class RunInterrupted(SystemExit):
    """The run stopped on a signal; exits with the shell's code for it (130 SIGINT, 143
    SIGTERM)."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(128 + signal.Signals[signal_name].value)
        self.signal_name = signal_name


class CheckpointOnInterrupt(L.Callback):
    """Stops the run on SIGINT / SIGTERM: at the end of the running training step or validation
    batch with a checkpoint in `path` (while fitting), else at once. A second signal stops at
    once (KeyboardInterrupt, no checkpoint). Under DDP all processes stop at the same step or
    validation batch, whichever got the signal.

    Put it first in the trainer's callbacks: its setup hook names the embedding cache build
    (`builds_cache`) before that build starts.
    """

    def __init__(self, path: str | Path, *, builds_cache: bool = False) -> None:
        self.path = Path(path)
        self.builds_cache = builds_cache
        self.received: str | None = None  # the first signal's name
        self.written: Path | None = None
        self.phase = "setting up the run"  # what runs now, in the words of the report
        self.training_done = False  # fit ended (every epoch trained)
        self._deferred = False  # training steps or an in-fit validation run: stop at their end
        self._pid = os.getpid()  # forked DataLoader workers inherit the handler: they ignore it
        self._outside_fit: dict = {}
        self._in_fit: dict = {}
        self._rng_after_batch: dict | None = None  # the random states a validation starts from
        self._val_batches_everywhere: list[int] | None = None
        self._saving_mid_validation = False
        self.trainer: L.Trainer | None = None  # the last trainer that ran (setup)
        self.next_step: str | None = None  # what to run instead of resuming (after training)
        self.validation_label = "a validation"  # the phase name of the next validation outside fit

    # ---- signal handlers ----------------------------------------------------------------------
    def install(self) -> None:
        """Handle SIGINT / SIGTERM from now on (catching_signals: the whole run)."""
        self._outside_fit = _set_handlers(self._on_signal)

    def uninstall(self) -> None:
        self._restore_in_fit()
        _restore(self._outside_fit)
        self._outside_fit = {}

    def _on_signal(self, signum, frame) -> None:
        if os.getpid() != self._pid:
            return  # a DataLoader worker: the main process stops it
        if self.received is not None:
            self._restore_in_fit()
            _restore(self._outside_fit)
            raise KeyboardInterrupt
        self.received = signal.Signals(signum).name
        if not self._deferred:
            say(f"\n{self.received}: stopping {self.phase} now")
            raise RunInterrupted(self.received)
        say(
            f"\n{self.received}: stopping {self.phase} at the end of its running "
            f"{'validation batch' if 'validation' in self.phase else 'step'}, with a checkpoint "
            f"in {self.path}; {self.received} again stops at once, without one"
        )

    def _restore_in_fit(self) -> None:
        _restore(self._in_fit)
        self._in_fit = {}

    # ---- where the run is ---------------------------------------------------------------------
    def setup(self, trainer, pl_module, stage: str) -> None:
        self.trainer = trainer
        if self.builds_cache:
            self.phase = "the embedding cache build (entries written so far are kept)"

    def on_fit_start(self, trainer, pl_module) -> None:
        self.phase = "the start of training"

    def on_train_start(self, trainer, pl_module) -> None:
        # Lightning put its own SIGTERM handler around ours; it would end the loops with no
        # checkpoint: ours alone until training ends
        self._in_fit = _set_handlers(self._on_signal)
        self._training()

    def _training(self) -> None:
        self.phase, self._deferred = "training", True

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self._rng_after_batch = collect_rng_states()  # a validation may start here
        stepped = (batch_idx + 1) % trainer.accumulate_grad_batches == 0
        if stepped and batch_idx + 1 < trainer.num_training_batches and self._signalled(trainer):
            self._save(trainer)

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if self._signalled(trainer):  # before last.ckpt is written for the epoch
            self._save(trainer)

    def on_train_end(self, trainer, pl_module) -> None:
        self._restore_in_fit()
        self._deferred, self.training_done = False, True
        self.phase = "the end of training"
        if self.received:  # came after the last epoch's check: training is complete
            raise RunInterrupted(self.received)

    def on_exception(self, trainer, pl_module, exception) -> None:
        self._restore_in_fit()
        self._deferred = False

    def on_validation_start(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            self.phase = "the sanity check"
            return
        if not _validating_in_fit(trainer):
            self.phase = self.validation_label
            return
        self.phase = f"the validation of epoch {trainer.current_epoch}"
        self._val_batches_everywhere = _batches_on_every_process(trainer)

    def on_validation_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        if not (self._deferred and _validating_in_fit(trainer)):
            return
        everywhere = self._val_batches_everywhere
        if everywhere is not None and batch_idx >= everywhere[dataloader_idx]:
            return  # a batch not every process has: no collective check
        if self._signalled(trainer):
            self._save(trainer, mid_validation=True)

    def on_validation_end(self, trainer, pl_module) -> None:
        if _validating_in_fit(trainer) and self._deferred:
            self._training()

    # ---- the checkpoint -----------------------------------------------------------------------
    def _signalled(self, trainer) -> bool:
        """Whether any process got a signal; all of them then report the same one (SIGTERM over
        SIGINT when processes got different ones)."""
        mine = signal.Signals[self.received].value if self.received else 0
        code = int(
            trainer.strategy.reduce(
                torch.tensor(float(mine), device=trainer.strategy.root_device), reduce_op="max"
            )
        )
        if code:
            self.received = signal.Signals(code).name
        return bool(code)

    def _save(self, trainer, mid_validation: bool = False) -> None:
        """Write the checkpoint and stop. In a validation: the random states its first batch
        started from, and loop counters that make the resumed run validate again."""
        if mid_validation and self._rng_after_batch is not None:
            set_rng_states(self._rng_after_batch)  # this process stops: nothing draws after
        self._saving_mid_validation = mid_validation
        try:
            trainer.save_checkpoint(self.path, weights_only=False)  # a full one, and said so
        finally:
            self._saving_mid_validation = False
        self.written = self.path
        raise RunInterrupted(self.received)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        if self._saving_mid_validation:
            mark_validation_unfinished(checkpoint)


def mark_validation_unfinished(checkpoint: dict) -> None:
    """Set the fit loop's validation counters of `checkpoint` to Lightning's "stopped inside a
    validation step" state (ready = started = processed + 1 = completed + 1), whose restart runs
    the validation again from its first batch before training goes on."""
    progress = checkpoint["loops"]["fit_loop"][VAL_PROGRESS]
    done_before = progress["total"]["completed"] - progress["current"]["completed"]
    progress["total"] = _stopped_in_first_step(done_before)
    progress["current"] = _stopped_in_first_step(0)
    progress["is_last_batch"] = False


def _stopped_in_first_step(done: int) -> dict:
    return {"ready": done + 1, "started": done + 1, "processed": done, "completed": done}


def _validating_in_fit(trainer) -> bool:
    return trainer.state.fn == TrainerFn.FITTING and not trainer.sanity_checking


def _batches_on_every_process(trainer) -> list[int] | None:
    """Per validation loader, how many batches every process has (their shards may differ by
    one batch): the batches after which all of them can check for a signal together."""
    if trainer.world_size == 1:
        return None
    mine = torch.tensor(
        [float(n) for n in trainer.num_val_batches], device=trainer.strategy.root_device
    )
    fewest = -trainer.strategy.reduce(-mine, reduce_op="max")
    return [int(n) for n in fewest.tolist()]


def _set_handlers(handler) -> dict:
    """Install `handler` for SIGINT and SIGTERM; the handlers it replaced (none outside the main
    thread, where Python cannot handle signals)."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {sig: signal.signal(sig, handler) for sig in INTERRUPT_SIGNALS}


def _restore(previous: dict) -> None:
    for sig, handler in previous.items():  # None: a handler set outside Python
        signal.signal(sig, signal.SIG_DFL if handler is None else handler)


@rank_zero_only
def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


__all__ = [
    "INTERRUPT_CHECKPOINT",
    "CheckpointOnInterrupt",
    "RunInterrupted",
    "mark_validation_unfinished",
    "say",
]
