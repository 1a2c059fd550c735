"""The process group as data loading and checkpoints see it: this process's global rank and one
object gathered from every process (both plain single-process answers without DDP)."""

import torch.distributed as dist


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
