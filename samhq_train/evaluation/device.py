"""Where and in which precision evaluation runs: the device rule and the autocast context.

Precision names are the trainer's (``trainer.precision``): "32", "bf16-mixed", "16-mixed";
the older evaluation names "bf16" and "16" are still accepted.
"""

from __future__ import annotations

import contextlib

import torch

from samhq_train.evaluation.errors import EvaluationError

PRECISIONS = {"32": None, "32-true": None, "bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}
PRECISION_ALIASES = {"bf16": "bf16-mixed", "16": "16-mixed"}


def resolve_device(device: str | torch.device | None) -> torch.device:
    """"auto" (or None): CUDA when available, else CPU; refuses CUDA where there is none."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise EvaluationError(f"device={device}: CUDA is not available here; use device=cpu")
    return device


def canonical_precision(precision: str | int) -> str:
    """The trainer's name of a precision ("bf16" -> "bf16-mixed", 32 -> "32")."""
    name = PRECISION_ALIASES.get(str(precision), str(precision))
    if name not in PRECISIONS:
        names = [*PRECISIONS, *PRECISION_ALIASES]
        raise EvaluationError(f"precision must be one of {names}, got {precision!r}")
    return name


def autocast(device: torch.device, precision: str | int):
    """Autocast context for precision "32" (none), "bf16-mixed" or "16-mixed" (or an alias)."""
    dtype = PRECISIONS[canonical_precision(precision)]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
