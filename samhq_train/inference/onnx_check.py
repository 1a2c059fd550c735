"""The comparison every ONNX export check makes (onnxruntime against torch) and its one-line
failure: OnnxCheckError names the file and graph, the output furthest beyond the tolerance, its
largest difference, the tolerance and the example input; export_model adds what became of the
file (removed) and what to do."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from samhq_train.errors import CheckFailedError


class OnnxCheckError(CheckFailedError, RuntimeError):
    """An exported graph that onnxruntime runs differently from torch (exit status 3)."""

    def __init__(self, path: str | os.PathLike, graph: str, finding: str) -> None:
        self.path, self.graph, self.finding = Path(path), graph, finding
        self.outcome = ""  # what the export did with the file, and what to do (export_model)
        super().__init__()

    def __str__(self) -> str:
        text = f"ONNX check failed: {self.path} ({self.graph}): {self.finding}"
        return f"{text}; {self.outcome}" if self.outcome else text


def shape_finding(name: str, have: np.ndarray, want: np.ndarray, example: str) -> str | None:
    """The finding when onnxruntime's output has another shape than torch's, else None."""
    if have.shape == want.shape:
        return None
    return f"onnxruntime's {name} has shape {have.shape}, torch's {want.shape} ({example})"


def compare_relative(
    path: str | os.PathLike,
    graph: str,
    names,
    got,
    expected,
    tolerance: float,
    example: str,
) -> float:
    """Each float output's largest difference relative to its largest |value| (bool outputs:
    equal); OnnxCheckError for the output furthest beyond `tolerance` if any is. Returns the
    largest relative difference."""
    worst, failures = 0.0, []
    for name, have, want in zip(names, got, expected):
        shape = shape_finding(name, have, want, example)
        if shape is not None:
            raise OnnxCheckError(path, graph, shape)
        if want.dtype == np.bool_:
            wrong = int((have != want).sum())
            if wrong:
                failures.append((np.inf, f"onnxruntime's {name} differs from torch in {wrong} of "
                                         f"{want.size} values (they must be equal; {example})"))
            continue
        diff = float(np.abs(have - want).max()) / max(float(np.abs(want).max()), 1e-12)
        worst = max(worst, diff)
        if not diff <= tolerance:  # a NaN fails too
            failures.append((diff / tolerance, f"onnxruntime's {name} differs from torch by "
                                               f"{diff:.3g} of its largest |value| (tolerance "
                                               f"{tolerance:g}; {example})"))
    if failures:
        raise OnnxCheckError(path, graph, max(failures)[1])
    return worst
