"""Meta's SA-Co/VEval evaluators (sam3.eval.saco_veval_evaluators) run on JSON files, for the
parity tests. sam3 0.1.4's per-pair extraction calls int() on a one-element array, which NumPy
2.4 refuses; its module sees a numpy whose one-argument where() gives 0-d arrays instead (the
same numbers)."""

from __future__ import annotations

import contextlib
import io
import json
import types
from pathlib import Path

import numpy as np
import pytest

meta_evaluators = pytest.importorskip(
    "sam3.eval.saco_veval_evaluators", reason="Meta's sam3 package (the reference) is not installed"
)


class _NumpyWithScalarWhere(types.SimpleNamespace):
    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def where(*args):
        if len(args) == 1:
            return tuple(a.reshape(()) if a.size == 1 else a for a in np.where(*args))
        return np.where(*args)


meta_evaluators.np = _NumpyWithScalarWhere()


def write_inputs(folder: Path, gt: dict, preds: list) -> tuple[Path, Path]:
    gt_path, pred_path = folder / "gt.json", folder / "pred.json"
    gt_path.write_text(json.dumps(gt))
    pred_path.write_text(json.dumps(preds))
    return gt_path, pred_path


def meta_video_cgf1(gt_path: Path, pred_path: Path):
    """VideoCGF1Evaluator's (dataset numbers, per video x phrase numbers); its prints dropped."""
    with contextlib.redirect_stdout(io.StringIO()):
        return meta_evaluators.VideoCGF1Evaluator(str(gt_path)).evaluate(str(pred_path))


def meta_video_phrase_ap(gt_path: Path, pred_path: Path) -> dict:
    """VideoPhraseApEvaluator's dataset numbers; its prints dropped."""
    with contextlib.redirect_stdout(io.StringIO()):
        results, _ = meta_evaluators.VideoPhraseApEvaluator(str(gt_path)).evaluate(str(pred_path))
    return results


def _serial(run_ytvis_eval):
    """Meta's HOTA call asks for 8 worker processes; the same evaluation in this one."""
    def run(args, **kwargs):
        at = args.index("--USE_PARALLEL") + 1
        return run_ytvis_eval(args=[*args[:at], "False", *args[at + 1:]], **kwargs)
    return run


meta_evaluators.run_ytvis_eval = _serial(meta_evaluators.run_ytvis_eval)


def meta_video_phrase_hota(gt_path: Path, pred_path: Path):
    """VideoPhraseHotaEvaluator's (dataset numbers, per video x phrase numbers); prints dropped."""
    with contextlib.redirect_stdout(io.StringIO()):
        return meta_evaluators.VideoPhraseHotaEvaluator(str(gt_path)).evaluate(str(pred_path))
