"""A batch that one process of a DDP run failed to load (data.loaders.LoadFailure: a truncated
image found only when read) stops every process: in training at that step, in validation at that
validation's end, each process with one line (the failing one its own error, the others
RankStopped naming it; exit 2), instead of the others waiting in the next collective until the
process group breaks with a traceback (gloo) or for ever (NCCL). Without DDP the error is raised
where it is found.

Training pays nothing extra per step for it: the step's first all-reduce, which every training
step has anyway, carries [value, failed] instead of the value alone, and the failing process,
which has no batch, joins it from its training_step with [0, 1] (stop_at_failed_batch). That
all-reduce is check_loss's sum of the loss (divergence.py) in image training, the loss's
normaliser (the instance or object count averaged over the processes: mean_over_ranks_or_stop)
in concept and video training. Only when the failed count is not 0 do the processes gather their
reasons (distributed.stop_together), all before backward, so DDP's gradient all-reduce never
waits for a process that stopped. A validation keeps its failed batch and says it at its end,
before the metrics are gathered (one all-gather per validation)."""

from __future__ import annotations

from typing import NoReturn

import torch
import torch.distributed as dist

from samhq_train.data.loaders import LoadFailure
from samhq_train.distributed import stop_together, world_size


def _sum_with_failures(value: torch.Tensor, failed: bool) -> tuple[torch.Tensor, int]:
    """(value summed over the processes, how many of them failed to load this step's batch), in
    one all-reduce."""
    both = torch.stack([value.detach().float().reshape(()),
                        torch.tensor(float(failed), device=value.device)])
    dist.all_reduce(both)
    return both[0], int(both[1].item())


def sum_or_stop(value: torch.Tensor) -> torch.Tensor:
    """A step's scalar summed over the processes of a DDP run (float32); RankStopped (naming
    the process and its reason) when another process failed to load its batch of this step
    (stop_at_failed_batch)."""
    total, failed = _sum_with_failures(value, failed=False)
    if failed:
        stop_together(lambda: None)
    return total


def mean_over_ranks_or_stop(value: float, device: torch.device | str = "cpu") -> float:
    """The mean of `value` (a loss's normaliser) over the processes, all-reduced on `device`
    (which the backend must serve: CUDA for NCCL) as sum_or_stop; `value` itself without
    DDP."""
    processes = world_size()
    if processes == 1:
        return float(value)
    return float(sum_or_stop(torch.tensor(float(value), device=device))) / processes


def stop_at_failed_batch(trainer, error: Exception, device: torch.device) -> NoReturn:
    """Raise `error` (this process's batch of this training step failed to load): under DDP
    after telling the others, through the step's first all-reduce (sum_or_stop) and then its
    reason (distributed.stop_together)."""
    if trainer.world_size > 1:
        _sum_with_failures(torch.zeros((), device=device), failed=True)
        stop_together(lambda: _raise(error))
    raise error


def held_for_validation_end(module, batch) -> bool:
    """Whether a validation step's `batch` is a LoadFailure: then kept in module.val_failure
    (the validation's first) to be said at the validation's end, where every process meets
    (stop_together_on_failure), or raised at once by a single process."""
    if not isinstance(batch, LoadFailure):
        return False
    if module.trainer.world_size == 1:
        raise batch.error
    module.val_failure = module.val_failure or batch.error
    return True


def stop_together_on_failure(trainer, failure: Exception | None) -> None:
    """At a point every process reaches (a validation's end): raise `failure` here and
    RankStopped in the other processes when any of them has one (one small all-gather under
    DDP); without failures nothing."""
    if trainer.world_size > 1:
        stop_together(lambda: _raise(failure) if failure is not None else None)
    elif failure is not None:
        raise failure


def _raise(error: Exception) -> NoReturn:
    raise error


__all__ = ["held_for_validation_end", "mean_over_ranks_or_stop", "stop_at_failed_batch",
           "stop_together_on_failure", "sum_or_stop"]
