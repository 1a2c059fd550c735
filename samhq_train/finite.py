"""Non-finite numbers (NaN, inf) in tensors: found cheaply, named in one line.

Weights with a NaN or an inf are never written: a checkpoint (training/checkpointing.py) or an
export (inference/export.py) of them is refused with NonFiniteError naming the tensor, and a
training run stops at its first non-finite loss or gradient (training/divergence.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from samhq_train.errors import UserError


class NonFiniteError(UserError, ArithmeticError):
    """A loss, gradient or weight that is NaN or inf; the message names it, where it was found
    and what to try."""


def non_finite_indices(tensors: Sequence[torch.Tensor]) -> list[int]:
    """The positions of the floating-point tensors that hold a NaN or an inf, in order.

    One fused reduction per device and dtype (torch._foreach_norm: NaN and inf propagate into the
    norm) and one host sync; only a tensor whose norm is not finite is looked at alone, so a
    finite tensor whose norm overflows is not reported."""
    groups: dict[tuple, list[int]] = {}
    for i, t in enumerate(tensors):
        if torch.is_floating_point(t):
            groups.setdefault((t.device, t.dtype), []).append(i)
    suspects = []
    for positions in groups.values():
        norms = torch.stack(torch._foreach_norm([tensors[i].detach() for i in positions]))
        finite = torch.isfinite(norms)
        if not bool(finite.all()):
            suspects += [i for i, ok in zip(positions, finite.tolist()) if not ok]
    return sorted(i for i in suspects if not bool(torch.isfinite(tensors[i]).all()))


def non_finite_names(tensors: Mapping[str, torch.Tensor]) -> list[str]:
    """The names of the floating-point tensors that hold a NaN or an inf, in order
    (non_finite_indices over the values)."""
    names = list(tensors)
    return [names[i] for i in non_finite_indices([tensors[n] for n in names])]


def kind_of(value: torch.Tensor | float) -> str:
    """"nan", "inf" or "-inf" for a non-finite tensor or number (the first such element)."""
    t = torch.as_tensor(value).detach().float().reshape(-1)
    bad = t[~torch.isfinite(t)]
    return str(float(bad[0])) if bad.numel() else "finite"


def describe_non_finite(names: list[str], tensors: Mapping[str, torch.Tensor]) -> str:
    """"<first name> holds nan" plus how many more are not finite, for one-line messages."""
    more = len(names) - 1
    also = (
        "" if not more
        else " (and 1 more tensor)" if more == 1
        else f" (and {more} more tensors)"
    )
    return f"{names[0]} holds {kind_of(tensors[names[0]])}{also}"


__all__ = [
    "NonFiniteError",
    "describe_non_finite",
    "kind_of",
    "non_finite_indices",
    "non_finite_names",
]
