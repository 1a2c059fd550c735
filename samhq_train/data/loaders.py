"""DataLoaders of the batch contract: SampleLoader (data errors raised in the main process, or
handed on as a LoadFailure) and TrainLoader (resumable mid-epoch).

Under DDP a file that one process alone fails to read must not stop that process alone: the
others would wait for it in the next collective until the process group breaks. So a loader of a
DDP run hands the step a LoadFailure in place of the batch (`batches_or_failures`), and the step
stops every process together (training/step_failures.py; the concept run's module).

Likewise a batch whose samples a lenient evaluation all skipped (the collate's None; training
never skips a whole batch: it takes the next index) is dropped by one process, but a DDP run's
loader hands on an EmptiedBatch, a step that scores nothing: every process takes one step per
batch of its share, and each validation step during fit runs in DDP's forward, whose first one
after a training step broadcasts the buffers (a process that took no step would leave the others
waiting in that broadcast)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import NamedTuple

import torch
from torch.utils.data import DataLoader

from samhq_train.distributed import gather_from_ranks, global_rank

from .image_files import DataError

log = logging.getLogger(__name__)


class LoadFailure(NamedTuple):
    """What a loader hands the step in place of a batch that failed to load."""

    error: Exception


class EmptiedBatch:
    """What a DDP run's loader hands the step in place of a batch whose samples were all skipped
    (lenient evaluation): nothing to score, a step taken with the other processes."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "EmptiedBatch()"


def batches_or_failures(batches: Iterator, count: int) -> Iterator:
    """The batches of a DataLoader iterator, a LoadFailure in place of each that raised while
    loading (then on with the next one); at most `count` (an iterator whose workers died raises
    every time)."""
    for _ in range(count):
        try:
            batch = next(batches)
        except StopIteration:
            return
        except Exception as err:  # told to every process at the step
            batch = LoadFailure(err)
        yield batch


class SampleLoader(DataLoader):
    """A DataLoader that raises data errors in the main process and drops emptied batches; with
    hands_over_failures (a DDP run's loaders) a batch that failed to load, a data error or any
    other, comes as a LoadFailure instead, and an emptied batch as an EmptiedBatch: as many
    items as batches."""

    def __init__(self, *args, hands_over_failures: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        # an init argument, so that Lightning keeps it when it remakes the loader with a
        # DistributedSampler
        self.hands_over_failures = hands_over_failures

    def __iter__(self):
        batches = super().__iter__()
        if self.hands_over_failures:
            batches = batches_or_failures(batches, len(self))
        for batch in batches:
            if batch is None:
                if self.hands_over_failures:
                    yield EmptiedBatch()
                continue
            if not isinstance(batch, LoadFailure) and "error" in batch:
                if not self.hands_over_failures:
                    raise DataError(batch["error"])
                batch = LoadFailure(DataError(batch["error"]))
            yield batch


class TrainLoader(SampleLoader):
    """The training loader, resumable mid-epoch (Lightning saves its ``state_dict``).

    Its state is the random state its running epoch started from, per process: torch's (which
    draws the shuffle order and the workers' seeds) and the main process's augmentation RNG. A run
    resumed mid-epoch draws that epoch again from the same state and drops the ``batches_done()``
    batches it already trained on, so the rest of the epoch is what the uninterrupted run saw. The
    re-draw costs data loading only, no model. Not exact in an epoch that ran on persistent
    workers carried over from the one before (their RNGs live on in the worker processes, which no
    checkpoint holds, and the DataLoader draws no new worker seeds): the state records it, and
    such a resume says so in one warning.
    """

    def __init__(self, *args, batches_done: Callable[[], int] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.batches_done = batches_done  # batches of the running epoch already trained on
        self._epoch_start: dict | None = None
        self._resume_from: dict | None = None
        # epochs begun by this loader object (persistent workers live from the first on)
        self._epochs_started = 0

    def state_dict(self) -> dict:
        if self._epoch_start is None:
            return {}
        return {"epoch_start": gather_from_ranks(self._epoch_start)}

    def load_state_dict(self, state: dict) -> None:
        states = state.get("epoch_start")
        self._resume_from = states[global_rank() % len(states)] if states else None

    def _random_state(self) -> dict:
        return {"torch": torch.get_rng_state(), "dataset": self.dataset.rng_state()}

    def _workers_carried_over(self) -> bool:
        """Whether the epoch starting now runs on the worker processes of the one before."""
        return self.persistent_workers and self.num_workers > 0 and self._epochs_started > 0

    def __iter__(self):
        resume, self._resume_from = self._resume_from, None
        done = self.batches_done() if self.batches_done is not None else 0
        if not 0 < done < len(self):  # a fresh epoch
            carried_over = self._workers_carried_over()
            self._epoch_start = {**self._random_state(), "workers_carried_over": carried_over}
            self._epochs_started += 1
            yield from super().__iter__()
            return
        self._epochs_started += 1
        if resume is None:
            log.warning(
                "resuming mid-epoch from a checkpoint without the data order (an older one): the "
                "rest of this epoch is drawn afresh, not as the interrupted run would have"
            )
            yield from super().__iter__()
            return
        if resume.get("workers_carried_over"):
            log.warning(
                "resuming mid-epoch with data.persistent_workers=true: this epoch ran on workers "
                "whose random state no checkpoint holds, so its rest is drawn afresh, not as the "
                "interrupted run would have; train with data.persistent_workers=false for an "
                "exact resume"
            )
        self._epoch_start = resume
        batches = super().__iter__()
        with torch.random.fork_rng(devices=[]):  # the restored step's torch state is kept
            torch.set_rng_state(resume["torch"])
            self.dataset.set_rng_state(resume["dataset"])
            for _ in range(done):
                next(batches)
        yield from batches
