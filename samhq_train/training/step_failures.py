"""A batch that one process of a DDP run failed to load (data.loaders.LoadFailure: a truncated
image found only when read) stops every process: in training at that step, in validation at that
validation's end, each process with one line (the failing one its own error, the others
RankStopped naming it; exit 2), instead of the others waiting in the next collective until the
process group breaks with a traceback (gloo) or for ever (NCCL). Without DDP the loader raises
the error where it is found.

Training pays nothing extra per step for it: the one collective an image training step has before
backward is check_loss's all-reduce of the loss (divergence.py), which here sums [loss, failed]
instead of the loss alone, and the failing process, which has no loss, joins that all-reduce from
its training_step. Only when the count is not 0 do the processes gather their reasons
(distributed.stop_together). This needs a step without a collective of its own before check_loss:
the concept and video losses all-reduce their instance counts first, so the concept run stops
together at the start of its step instead (one small all-gather per step). A validation keeps
its failed batch and says it at its end, before the metrics are gathered (one all-gather per
validation)."""

from __future__ import annotations

from typing import NoReturn

import torch

from samhq_train.distributed import stop_together


def _sum_with_failures(trainer, loss: torch.Tensor, failed: bool) -> tuple[torch.Tensor, int]:
    """(the loss summed over the processes, how many of them failed to load this step's batch),
    in one all-reduce."""
    both = torch.stack([loss.detach().float().reshape(()),
                        torch.tensor(float(failed), device=loss.device)])
    total = trainer.strategy.reduce(both, reduce_op="sum")
    return total[0], int(total[1])


def loss_sum_or_stop(trainer, loss: torch.Tensor) -> torch.Tensor:
    """The loss summed over the processes of a DDP run; RankStopped (naming the process and its
    reason) when another process failed to load its batch of this step (stop_at_failed_batch)."""
    total, failed = _sum_with_failures(trainer, loss, failed=False)
    if failed:
        stop_together(lambda: None)
    return total


def stop_at_failed_batch(trainer, error: Exception, device: torch.device) -> NoReturn:
    """Raise `error` (this process's batch of this training step failed to load): under DDP
    after telling the others, through the step's loss all-reduce (loss_sum_or_stop) and then its
    reason (distributed.stop_together)."""
    if trainer.world_size > 1:
        _sum_with_failures(trainer, torch.zeros((), device=device), failed=True)
        stop_together(lambda: _raise(error))
    raise error


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


__all__ = ["loss_sum_or_stop", "stop_at_failed_batch", "stop_together_on_failure"]
