"""lvis-api's LVISEval (lvis==0.5.3, the tests' reference of LVIS AP; installed --no-deps, not a
dependency of ours), run on a GT dict and results; HAVE_LVIS says whether it is installed."""

import importlib.util
import json
import sys
import types

import numpy as np
import pytest

HAVE_LVIS = importlib.util.find_spec("lvis") is not None
needs_lvis = pytest.mark.skipif(
    not HAVE_LVIS, reason="lvis-api is not installed (pip install lvis==0.5.3 --no-deps)"
)
NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf")


def lvis_eval(gt: dict, results: list, iou_type: str, tmp_path, max_dets: int = 300,
              cat_ids=None) -> dict:
    """LVISEval's AP ... APf (its -1 as NaN)."""
    # lvis/__init__ imports lvis.vis for LVISVis, which needs matplotlib (not installed, not
    # needed to evaluate): a stand-in module lets lvis.eval import
    if "lvis.vis" not in sys.modules:
        stand_in = types.ModuleType("lvis.vis")
        stand_in.LVISVis = None
        sys.modules["lvis.vis"] = stand_in
    from lvis import LVIS, LVISEval, LVISResults

    path = tmp_path / "lvis_gt_reference.json"
    path.write_text(json.dumps(gt))
    lvis_gt = LVIS(str(path))
    evaluator = LVISEval(lvis_gt, LVISResults(lvis_gt, [dict(r) for r in results], max_dets),
                         iou_type)
    if cat_ids is not None:
        evaluator.params.cat_ids = sorted(cat_ids)
    restore = not hasattr(np, "float")
    np.float = float  # lvis 0.5.3's accumulate uses np.float, gone from numpy >= 1.24
    try:
        evaluator.run()
    finally:
        if restore:
            del np.float
    return {n: float("nan") if evaluator.results[n] == -1 else float(evaluator.results[n])
            for n in NAMES}
