"""A stand-in 2-process group for tests of one DDP process's logic without processes:
torch.distributed reports an initialised group of 2 in which this process is rank 0, and its
collectives are replaced by ones that record each call and answer as the other process would
(its [value, failed] added to every all-reduce, its reason handed to every all-gather). A
collective not stood in for raises, as torch.distributed does without a process group, so a
count of calls misses none that ran."""

from __future__ import annotations

import collections

import torch
import torch.distributed as dist

COUNTED = ("all_reduce", "all_gather", "all_gather_object", "barrier", "broadcast",
           "broadcast_object_list", "reduce", "gather", "gather_object", "scatter",
           "reduce_scatter", "all_to_all")


class StandInGroup:
    """other: what the other process adds to an all-reduce (a function of this process's
    tensor; default: the same tensor again, a process with the same count and loss, and no
    failure); reason: its answer to an all-gather (None: it did not fail)."""

    def __init__(self, monkeypatch, other=None, reason: str | None = None) -> None:
        self.calls: collections.Counter = collections.Counter()
        self.reduced: list[list[float]] = []  # the tensors this process all-reduced
        self.other = other or (lambda tensor: tensor.clone())
        self.reason = reason
        monkeypatch.setattr(dist, "is_initialized", lambda: True)
        monkeypatch.setattr(dist, "get_world_size", lambda group=None: 2)
        monkeypatch.setattr(dist, "get_rank", lambda group=None: 0)
        for name in COUNTED:
            monkeypatch.setattr(dist, name, self._counting(name, getattr(self, name, None)))

    def _counting(self, name: str, answer):
        def collective(*args, **kwargs):
            self.calls[name] += 1
            if answer is None:
                raise AssertionError(f"torch.distributed.{name} has no stand-in")
            return answer(*args, **kwargs)
        return collective

    def all_reduce(self, tensor: torch.Tensor, op=None, group=None, async_op=False) -> None:
        self.reduced.append(tensor.tolist())
        tensor += self.other(tensor)

    def all_gather_object(self, gathered: list, obj, group=None) -> None:
        gathered[:] = [obj, self.reason]

    def barrier(self, group=None, async_op=False, device_ids=None) -> None:
        pass


def other_failed(tensor: torch.Tensor) -> torch.Tensor:
    """The other process failed to load its batch: [0, 1]."""
    return torch.tensor([0.0, 1.0], device=tensor.device)
