"""Training and validation progress as plain lines when stdout is not a terminal (a log file,
nohup, SLURM, CI, `| tee`); in a terminal Lightning's own live bar stays. The decision and the
line format are samhq_train/progress.py's, shared with the cache build, evaluation and prediction:

    train: epoch 2/11 step 150/768 (19%) | 41.2 samples/s | loss 0.4321 | elapsed 1m10s | ETA 4m48s
    validate demo-val: 8/16 img (50%) | 3.1 img/s | elapsed 3s | ETA 3s

A training line every SAMHQ_PROGRESS_INTERVAL seconds (default 30) and one at each epoch's end;
a validation line at the same interval and one per validated set, with its metrics.
"""

import math
import time

import torch
from lightning.pytorch.callbacks import ProgressBar
from lightning.pytorch.utilities.data import extract_batch_size

from samhq_train.progress import (
    count_text,
    interval_s,
    live,
    progress_line,
    rate,
    remaining_s,
)


def batch_samples(batch) -> int:
    """Samples in a batch: its names (the batch contract), else the first tensor's length."""
    if isinstance(batch, dict) and isinstance(batch.get("name"), list | tuple):
        return len(batch["name"])
    try:
        return extract_batch_size(batch)
    except Exception:  # a batch without tensors: count it as one
        return 1


def step_loss(outputs) -> torch.Tensor | None:
    """The loss a training step returned (a tensor, or {"loss": tensor})."""
    loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
    return loss.detach().float() if isinstance(loss, torch.Tensor) else None


def loader_images(loader, batches: float) -> int | None:
    """Images a validation loader gives this process within `batches` batches (None: unknown)."""
    try:
        size = len(loader.sampler) if loader.sampler is not None else len(loader.dataset)
    except (AttributeError, TypeError):
        return None
    per_batch = getattr(loader, "batch_size", None)
    if per_batch and math.isfinite(batches):
        size = min(size, int(batches) * per_batch)
    return size


class _Mean:
    """A running mean of step losses, kept on their device (one sync per printed line)."""

    def __init__(self) -> None:
        self.total, self.count = None, 0

    def add(self, value: torch.Tensor | None) -> None:
        if value is not None:
            self.total = value if self.total is None else self.total + value
            self.count += 1

    def text(self) -> str | None:
        return None if self.total is None else f"{self.total.item() / self.count:.4f}"


class PlainProgressBar(ProgressBar):
    """Lightning's progress bar as plain lines (see the module docstring); on rank 0 only."""

    def __init__(self) -> None:
        super().__init__()
        self._enabled = True
        self.interval = interval_s()
        self._fit_started = 0.0
        self._val_seconds = 0.0  # validation time inside the fit: not training speed
        self._val_started: float | None = None

    @property
    def is_enabled(self) -> bool:
        return self._enabled

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def _say(self, line: str) -> None:
        if self._enabled:
            print(line, flush=True)

    # ---- training ------------------------------------------------------------------------------
    def on_train_start(self, trainer, pl_module) -> None:
        self._fit_started = time.monotonic()
        self._val_seconds = 0.0
        self._first_step = trainer.global_step
        self._new_window()

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._epoch_loss = _Mean()
        self._epoch_samples, self._epoch_started = 0, time.monotonic()
        self._epoch_val_seconds = self._val_seconds

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        samples, loss = batch_samples(batch), step_loss(outputs)
        self._window_samples += samples
        self._epoch_samples += samples
        self._window_loss.add(loss)
        self._epoch_loss.add(loss)
        if self._enabled and time.monotonic() - self._last_line >= self.interval:
            since = time.monotonic() - self._last_line
            since -= self._val_seconds - self._window_val_seconds  # a validation in the window
            self._say(self._train_line(trainer, self._window_samples, since, self._window_loss))
            self._new_window()

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        if not self._enabled:
            return
        seconds = time.monotonic() - self._epoch_started
        seconds -= self._val_seconds - self._epoch_val_seconds
        self._say(self._train_line(trainer, self._epoch_samples, seconds, self._epoch_loss, True))
        self._new_window()

    def _new_window(self) -> None:
        """Speed and loss of the next line count from now."""
        self._window_samples, self._window_loss = 0, _Mean()
        self._last_line, self._window_val_seconds = time.monotonic(), self._val_seconds

    def _train_line(self, trainer, samples: int, seconds: float, loss: _Mean, end=False) -> str:
        """Speed and loss over the given samples and seconds, the ETA at the fit's mean speed."""
        # counted from 0 to max_epochs - 1, as Lightning's live bar, the checkpoints' names,
        # metrics.csv and the interrupt report count them
        last = trainer.max_epochs - 1 if trainer.max_epochs and trainer.max_epochs > 0 else None
        epoch = f"epoch {trainer.current_epoch}" + (f"/{last}" if last is not None else "")
        total = trainer.estimated_stepping_batches
        step = trainer.global_step
        where = f"{epoch}{' done,' if end else ''} step {step}"
        if math.isfinite(total) and total > 0:
            where += f"/{int(total)} ({100 * step // int(total)}%)"
        trained = time.monotonic() - self._fit_started - self._val_seconds
        loss_text = loss.text()
        return progress_line(
            "train",
            where,
            elapsed=time.monotonic() - self._fit_started,
            speed=rate(samples, seconds, "samples"),
            extra=[f"loss {loss_text}{' (epoch mean)' if end else ''}"] if loss_text else [],
            eta=remaining_s(step - self._first_step, total - self._first_step, trained),
        )

    # ---- validation ----------------------------------------------------------------------------
    def on_validation_start(self, trainer, pl_module) -> None:
        self._val_started = time.monotonic()
        self.reset_dataloader_idx_tracker()

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, dataloader_idx=0):
        if trainer.sanity_checking:
            return
        if self.has_dataloader_changed(dataloader_idx):
            self._end_set(trainer)
            self._set_name = self._name(trainer, dataloader_idx)
            self._set_images = loader_images(
                self._loader(trainer, dataloader_idx), self.total_val_batches_current_dataloader
            )
            self._set_done, self._set_started = 0, time.monotonic()
            self._set_last_line, self._set_printed = self._set_started, -1

    def on_validation_batch_end(
        self, trainer, pl_module, outputs, batch, batch_idx, dataloader_idx=0
    ) -> None:
        if trainer.sanity_checking:
            return
        self._set_done += batch_samples(batch)
        last = self._set_images is not None and self._set_done >= self._set_images
        due = time.monotonic() - self._set_last_line >= self.interval
        if self._enabled and due and not last:
            self._say(self._val_line())
            self._set_last_line, self._set_printed = time.monotonic(), self._set_done

    def on_validation_end(self, trainer, pl_module) -> None:
        if not trainer.sanity_checking:
            self._end_set(trainer, final=True)
        if self._val_started is not None and trainer.state.fn == "fit":
            self._val_seconds += time.monotonic() - self._val_started
        self._val_started = None
        self.reset_dataloader_idx_tracker()

    def _end_set(self, trainer, final: bool = False) -> None:
        """The closing line of the set validated last (with the run's val metrics after the
        last set, when they are computed)."""
        if getattr(self, "_set_name", None) is None or not self._enabled:
            return
        line = self._val_line(metrics=self._val_metrics(trainer) if final else [])
        if self._set_printed != self._set_done or final:
            self._say(line)
        self._set_name = None

    def _val_line(self, metrics=()) -> str:
        elapsed = time.monotonic() - self._set_started
        done, total = self._set_done, self._set_images
        return progress_line(
            f"validate {self._set_name}",
            count_text(done, total, "img"),
            elapsed=elapsed,
            speed=rate(done, elapsed, "img"),
            extra=list(metrics),
            eta=remaining_s(done, total, elapsed) if total and done < total else None,
        )

    def _val_metrics(self, trainer) -> list[str]:
        shown = {k: v for k, v in trainer.progress_bar_metrics.items() if k.startswith("val/")}
        return [f"{k} {float(v):.4f}" for k, v in shown.items()]

    @staticmethod
    def _name(trainer, index: int) -> str:
        """The set's name (the datamodule's val_names), else its index."""
        names = list(getattr(trainer.datamodule, "val_names", None) or [])
        return names[index] if index < len(names) else f"set {index}"

    @staticmethod
    def _loader(trainer, index: int):
        loaders = trainer.val_dataloaders
        if isinstance(loaders, list | tuple):
            return loaders[index] if index < len(loaders) else None
        if isinstance(loaders, dict):
            return list(loaders.values())[index]
        return loaders


def progress_callbacks(enabled: bool, callbacks: list) -> list:
    """The progress bar a run adds: none in a terminal (Lightning's live bar), none when the
    trainer's enable_progress_bar is off or a configured callback is a progress bar, else the
    plain lines."""
    if not enabled or live() or any(isinstance(c, ProgressBar) for c in callbacks):
        return []
    return [PlainProgressBar()]


__all__ = ["PlainProgressBar", "batch_samples", "progress_callbacks"]
