"""The process group as data loading, checkpoints and the embedding cache see it: this process's
global rank, one object gathered from every process (both plain single-process answers without
DDP), and `stop_together` for a step that every process takes and any of them can fail."""

from collections.abc import Callable
from typing import TypeVar

import torch.distributed as dist

from samhq_train.errors import UserError

T = TypeVar("T")


class RankStopped(UserError):
    """Another process of a DDP run failed at a step all take together: this one stops with it."""


def _initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def global_rank() -> int:
    """This process's global rank; 0 without an initialised process group."""
    return dist.get_rank() if _initialized() else 0


def gather_from_ranks(obj) -> list:
    """`obj` of every process (index = global rank); a one-element list without DDP."""
    if not _initialized() or dist.get_world_size() == 1:
        return [obj]
    gathered: list = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def stop_together(step: Callable[[], T]) -> T:
    """Run `step` here, then learn how it went in every process (one small all-gather, which
    also waits for all of them). When it failed anywhere, every process stops at this point: a
    failing one with its own error, the others with RankStopped naming the first failing rank
    and its reason (one line each, exit 2), instead of waiting in the next collective until the
    process group breaks with a traceback. Without DDP: step()."""
    failure, result = None, None
    try:
        result = step()
    except Exception as err:  # told to every process below, then raised here unchanged
        failure = err
    reasons = gather_from_ranks(None if failure is None else _reason(failure))
    if failure is not None:
        raise failure
    failed = [(rank, why) for rank, why in enumerate(reasons) if why is not None]
    if failed:
        rank, why = failed[0]
        raise RankStopped(f"rank {rank} stopped: {why}")
    return result


def _reason(err: Exception) -> str:
    if isinstance(err, UserError):
        return str(err)
    return f"{type(err).__name__}: {err} (a bug: see its traceback)"
