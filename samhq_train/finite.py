"""Non-finite numbers (NaN, inf) in tensors: found cheaply, named in one line.

Weights with a NaN or an inf are never written: a checkpoint (training/checkpointing.py) or an
export (inference/export.py) of them is refused with NonFiniteError naming the tensor, and a
training run stops at its first non-finite loss or gradient (training/divergence.py).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from samhq_train.errors import UserError


class NonFiniteError(UserError, ArithmeticError):
    """A loss, gradient or weight that is NaN or inf; the message names it, where it was found
    and what to try."""


def non_finite_names(tensors: Mapping[str, torch.Tensor]) -> list[str]:
    """The names of the floating-point tensors that hold a NaN or an inf, in order. One fused
    reduction per device and dtype (torch._foreach_norm of the largest magnitude: NaN and inf
    propagate, no overflow), one host sync; each tensor is looked at alone only on a find."""
    floats = {k: v.detach() for k, v in tensors.items() if torch.is_floating_point(v)}
    if not floats:
        return []
    groups: dict[tuple, list[str]] = {}
    for name, t in floats.items():
        groups.setdefault((t.device, t.dtype), []).append(name)
    largest = [
        torch.stack(torch._foreach_norm([floats[n] for n in names], float("inf"))).float()
        for names in groups.values()
    ]
    if bool(torch.isfinite(torch.cat([m.cpu() for m in largest])).all()):
        return []
    return [k for k, v in floats.items() if not bool(torch.isfinite(v).all())]


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


__all__ = ["NonFiniteError", "describe_non_finite", "kind_of", "non_finite_names"]
