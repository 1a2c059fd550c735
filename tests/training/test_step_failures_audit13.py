"""A batch that fails to load under DDP (audit 13; the process group stood in for, as in
test_step_failures.py): the step's loss all-reduce still says a loss that diverged on another
process; the failing process tells the others its error's own line; a DDP loader hands a
data error on as that DataError (a user error, told as its line), keeps handing failures on
when Lightning remakes it with a DistributedSampler, and a loader whose workers died ends after
its length; a batch emptied by skipped samples is dropped by one process, handed on under DDP."""

import types

import pytest
import torch
from lightning.pytorch.utilities.data import _update_dataloader
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from samhq_train import distributed
from samhq_train.data.image_files import DataError
from samhq_train.data.loaders import EmptiedBatch, LoadFailure, SampleLoader
from samhq_train.finite import NonFiniteError
from samhq_train.training.divergence import check_loss
from samhq_train.training.step_failures import stop_at_failed_batch

from .stand_in_group import StandInGroup
from .test_step_failures import BAD, Samples, collate


def two_processes() -> types.SimpleNamespace:
    """The trainer of rank 0 of 2 (its collectives: StandInGroup's)."""
    return types.SimpleNamespace(world_size=2, current_epoch=0, global_step=3, optimizers=[],
                                 gradient_clip_val=None, precision="32-true")


def test_a_loss_that_diverged_on_another_process_still_stops_the_run(monkeypatch):
    """Mutant: sum_or_stop returning this process's loss instead of the all-reduced sum
    (the failed count read, the other process's NaN dropped)."""
    StandInGroup(monkeypatch, other=lambda t: torch.tensor([0.25, 0.0]))
    check_loss(two_processes(), torch.tensor(0.5))
    StandInGroup(monkeypatch, other=lambda t: torch.tensor([float("nan"), 0.0]))
    with pytest.raises(NonFiniteError, match="the loss is nan on another process"):
        check_loss(two_processes(), torch.tensor(0.5))


@pytest.mark.parametrize("error, line", [
    (BAD, str(BAD)),
    (RuntimeError("sample 3 broke"), "RuntimeError: sample 3 broke (a bug: see its traceback)"),
])
def test_the_failing_process_tells_the_others_its_error(monkeypatch, error, line):
    """Mutant: stop_at_failed_batch joining the reasons' all-gather without its error (the
    others would find no reason, go on past the step, and wait in its next collective)."""
    StandInGroup(monkeypatch)
    told = []
    monkeypatch.setattr(distributed, "gather_from_ranks",
                        lambda reason: told.append(reason) or [None, reason])
    with pytest.raises(type(error)) as raised:
        stop_at_failed_batch(two_processes(), error, torch.device("cpu"))
    assert raised.value is error and told == [line]


def test_a_data_error_is_handed_on_as_a_data_error():
    """Mutant: the error sample handed on as another exception type (told to the other
    processes as 'a bug' with a traceback, not as the data's one line)."""
    batches = list(SampleLoader(Samples(3, bad=[1]), batch_size=1, collate_fn=collate,
                                hands_over_failures=True))
    assert isinstance(batches[1], LoadFailure)
    assert type(batches[1].error) is DataError and str(batches[1].error) == str(BAD)
    assert distributed._reason(batches[1].error) == str(BAD)


def test_lightnings_distributed_remake_still_hands_failures_on():
    """Mutants: hands_over_failures not an init argument kept as an attribute (Lightning
    remakes the loader with a DistributedSampler from its init arguments, so a DDP run's loader
    would raise in one process)."""
    loader = SampleLoader(Samples(4, bad=[2]), batch_size=1, collate_fn=collate,
                          hands_over_failures=True)
    remade = _update_dataloader(loader, DistributedSampler(loader.dataset, num_replicas=2,
                                                           rank=0, shuffle=False))
    assert remade is not loader and remade.hands_over_failures
    batches = list(remade)  # rank 0 of 2: samples 0 and 2
    assert batches[0] == {"i": [0]} and isinstance(batches[1], LoadFailure)


class DeadWorkers:
    """A DataLoader iterator whose workers died: every next() raises."""

    def __next__(self):
        raise RuntimeError("DataLoader worker (pid 7) exited unexpectedly")


def test_a_loader_whose_workers_died_hands_on_one_failure_per_batch_then_ends(monkeypatch):
    """Mutants: more (or fewer) than len(loader) failures handed on (one process would step
    more often than the others)."""
    monkeypatch.setattr(DataLoader, "__iter__", lambda self: DeadWorkers())
    loader = SampleLoader(Samples(6), batch_size=2, collate_fn=collate, hands_over_failures=True)
    batches = list(loader)
    assert len(batches) == len(loader) == 3
    assert all(isinstance(b, LoadFailure) and "exited unexpectedly" in str(b.error)
               for b in batches)


def skip_second(samples: list[dict]) -> dict | None:
    """As the batch collate: None for a batch of only skipped samples (here the one of 1)."""
    return None if samples[0]["i"] == 1 else collate(samples)


def test_an_emptied_batch_is_dropped_by_one_process_and_handed_on_under_ddp():
    """Mutants: the loader yielding the None of a batch whose samples were all skipped (lenient
    evaluation) instead of dropping it; a DDP run's loader dropping it (one step fewer in that
    process: test_ddp_emptied_batches.py)."""
    loader = SampleLoader(Samples(3), batch_size=1, collate_fn=skip_second)
    assert list(loader) == [{"i": [0]}, {"i": [2]}]
    loader.hands_over_failures = True
    batches = list(loader)
    assert len(batches) == len(loader) == 3
    assert batches[0] == {"i": [0]} and isinstance(batches[1], EmptiedBatch)
    assert batches[2] == {"i": [2]}
