"""DataLoaders of the batch contract: SampleLoader (data errors raised in the main process, or
handed on as a LoadFailure) and the training loaders, resumable mid-epoch: TrainLoader (image
training) and EpochSeededLoader (concept and video fine-tuning).

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
from contextlib import contextmanager
from typing import NamedTuple

import torch
from torch.utils.data import DataLoader, DistributedSampler

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


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of an epoch's draws (shuffle, worker seeds) of a run seeded with `seed`."""
    return seed * 1_000_003 + epoch


def padded_repeats(sampler) -> dict[int, int]:
    """{index: copy (1, 2, ...)} of the items a DistributedSampler gives this process as padding
    (it repeats the order's first indices to even the shares: global position k >= n holds copy
    k // n of an index); empty for any other sampler. A process never holds an index both as
    itself and as a repeat (their positions differ by a multiple of n, not of the processes)."""
    if not isinstance(sampler, DistributedSampler) or sampler.drop_last:
        return {}
    size, ranks = len(sampler.dataset), sampler.num_replicas
    positions = (sampler.rank + j * ranks for j in range(sampler.num_samples))
    return {index: position // size for position, index in zip(positions, sampler)
            if position >= size}


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
            if isinstance(batch, dict) and "error" in batch:
                if not self.hands_over_failures:
                    raise DataError(batch["error"])
                batch = LoadFailure(DataError(batch["error"]))
            yield batch


class TrainLoader(SampleLoader):
    """The training loader, resumable mid-epoch (Lightning saves its ``state_dict``).

    Its state is what its running epoch's random draws started from, per process; here torch's
    (which draws the shuffle order and the workers' seeds) and the main process's augmentation
    RNG (the dataset's ``rng_state``). A run resumed mid-epoch draws that epoch again from the
    same state and drops the ``batches_done()`` batches it already trained on, so the rest of the
    epoch is what the uninterrupted run saw. The re-draw costs data loading only, no model. Not
    exact in an epoch that ran on persistent workers carried over from the one before (their
    RNGs live on in the worker processes, which no checkpoint holds, and the DataLoader draws no
    new worker seeds): the state records it, and such a resume says so in one warning.
    EpochSeededLoader draws an epoch from (seed, epoch) instead, the same way resumed.
    """

    def __init__(self, *args, batches_done: Callable[[], int] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.batches_done = batches_done  # batches of the running epoch already trained on
        self._epoch_start: dict | None = None
        self._resume_from: dict | None = None
        # epochs begun by this loader object (persistent workers live from the first on)
        self._epochs_started = 0

    def follow(self, trainer) -> None:
        """Count the running epoch's batches done by `trainer`'s fit loop (restored on resume)."""
        self.batches_done = lambda: trainer.fit_loop.epoch_loop.batch_progress.current.ready

    def state_dict(self) -> dict:
        if self._epoch_start is None:
            return {}
        return {"epoch_start": gather_from_ranks(self._epoch_start)}

    def load_state_dict(self, state: dict) -> None:
        states = state.get("epoch_start")
        self._resume_from = states[global_rank() % len(states)] if states else None

    def _start_epoch(self) -> dict:
        """Set up the random draws of the epoch starting now; the state they start from."""
        return {"torch": torch.get_rng_state(), "dataset": self.dataset.rng_state(),
                "workers_carried_over": self._workers_carried_over()}

    def _restart_state(self, saved: dict | None) -> dict | None:
        """The state the interrupted epoch's draws started from: the checkpoint's (None: an older
        checkpoint without it)."""
        return saved

    @contextmanager
    def _drawing_from(self, start: dict):
        """The epoch's draws made again from `start` (while the batches done are dropped)."""
        with torch.random.fork_rng(devices=[]):  # the restored step's torch state is kept
            torch.set_rng_state(start["torch"])
            self.dataset.set_rng_state(start["dataset"])
            yield

    def _workers_carried_over(self) -> bool:
        """Whether the epoch starting now runs on the worker processes of the one before."""
        return self.persistent_workers and self.num_workers > 0 and self._epochs_started > 0

    def __iter__(self):
        saved, self._resume_from = self._resume_from, None
        done = self.batches_done() if self.batches_done is not None else 0
        if not 0 < done < len(self):  # a fresh epoch
            self._epoch_start = self._start_epoch()
            self._epochs_started += 1
            yield from super().__iter__()
            return
        start = self._restart_state(saved)
        self._epochs_started += 1
        if start is None:
            log.warning(
                "resuming mid-epoch from a checkpoint without the data order (an older one): the "
                "rest of this epoch is drawn afresh, not as the interrupted run would have"
            )
            yield from super().__iter__()
            return
        if start.get("workers_carried_over"):
            log.warning(
                "resuming mid-epoch with data.persistent_workers=true: this epoch ran on workers "
                "whose random state no checkpoint holds, so its rest is drawn afresh, not as the "
                "interrupted run would have; train with data.persistent_workers=false for an "
                "exact resume"
            )
        self._epoch_start = start
        batches = super().__iter__()
        with self._drawing_from(start):
            for _ in range(done):
                next(batches)
        yield from batches


class EpochSeededLoader(TrainLoader):
    """A TrainLoader whose epoch draws from (seed, epoch) alone, the epoch being epoch_of()'s
    when the epoch's iterator is made (before any worker copies the dataset): its own generator,
    seeded from them, draws the shuffle order and the workers' seeds; the sampler (when it has
    set_epoch) and the dataset (``set_epoch``: its items draw from (seed, epoch, index)) take the
    epoch. So neither torch's global generator nor the worker a batch lands on changes a batch,
    and a mid-epoch resume needs nothing from the checkpoint (an older one resumes exactly too):
    the epoch is drawn again and its batches done dropped. A dataset with ``set_repeats`` is told
    which of this process's items are the DistributedSampler's padding (padded_repeats), so that
    such a repeat draws another clip than its first reading on another process, as SAM 2's
    trainer (per-rank seeds) draws one."""

    def __init__(self, *args, seed: int = 0, epoch_of: Callable[[], int] | None = None,
                 batches_done: Callable[[], int] | None = None,
                 hands_over_failures: bool = False, **kwargs) -> None:
        # every argument named here: Lightning remakes the loader from this signature's names
        # when it puts in its DistributedSampler
        kwargs.setdefault("generator", torch.Generator())
        super().__init__(*args, batches_done=batches_done,
                         hands_over_failures=hands_over_failures, **kwargs)
        self.seed, self.epoch_of = int(seed), epoch_of

    def follow(self, trainer) -> None:
        """The epoch and its batches done from `trainer`'s fit loop, also while a resumed run
        restores its loops (current_epoch then still counts the checkpoint's epoch as running;
        Lightning's sampler epoch is this one)."""
        super().follow(trainer)
        self.epoch_of = lambda: trainer.fit_loop.epoch_progress.current.processed

    def _epoch(self) -> int:
        return self.epoch_of() if self.epoch_of is not None else 0

    def _start_epoch(self) -> dict:
        epoch = self._epoch()
        self.dataset.set_epoch(epoch)
        set_sampler_epoch = getattr(self.sampler, "set_epoch", None)
        if set_sampler_epoch is not None:
            set_sampler_epoch(epoch)
        set_repeats = getattr(self.dataset, "set_repeats", None)
        if set_repeats is not None:
            set_repeats(padded_repeats(self.sampler))
        self.generator.manual_seed(epoch_seed(self.seed, epoch))
        return {"epoch": epoch}

    def _restart_state(self, saved: dict | None) -> dict:
        return {"epoch": self._epoch()}

    @contextmanager
    def _drawing_from(self, start: dict):
        self._start_epoch()
        yield
