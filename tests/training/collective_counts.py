"""The torch.distributed collectives each training step of a DDP test run calls, counted in the
run's processes (the concept and video test drivers install it): from a step's training_step
to the end of its backward, by name. DDP's own gradient and buffer collectives run in C++ and
are not counted: what is counted is what the step's Python code adds."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import torch.distributed as dist

from tests.training.stand_in_group import COUNTED


def _file(out: Path, rank: int) -> Path:
    return Path(out) / f"collectives_rank{rank}.json"


def _counting(name: str, real, counts: collections.Counter):
    def collective(*args, **kwargs):
        counts[name] += 1
        return real(*args, **kwargs)
    return collective


def count_step_collectives(module_class, out: Path) -> None:
    """Each process of the run writes <out>/collectives_rank<r>.json: a list with, per training
    step, {collective name: calls} (module_class: the run's LightningModule class)."""
    counts: collections.Counter = collections.Counter()
    steps: list[dict[str, int]] = []
    for name in COUNTED:
        setattr(dist, name, _counting(name, getattr(dist, name), counts))
    step, after_backward = module_class.training_step, module_class.on_after_backward

    def training_step(self, batch, batch_idx):
        counts.clear()
        return step(self, batch, batch_idx)

    def on_after_backward(self):
        after_backward(self)
        steps.append(dict(counts))
        _file(out, self.global_rank).write_text(json.dumps(steps))

    module_class.training_step, module_class.on_after_backward = training_step, on_after_backward


def step_collectives(out: Path, rank: int) -> list[dict[str, int]]:
    """What count_step_collectives wrote for process `rank` of the run in `out`."""
    return json.loads(_file(out, rank).read_text())
