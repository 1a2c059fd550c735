"""lvis-api's LVISEval (lvis==0.5.3, the tests' reference of LVIS AP; installed --no-deps, not a
dependency of ours), run on a GT dict and results; HAVE_LVIS says whether it is installed.
With a boundary_ratio, LVISEval's IoU is the boundary-iou-api's LVIS variant's (its boundary AP:
min(mask IoU, boundary IoU), the boundary band drawn with cv2 as that API draws it)."""

import importlib.util
import json
import sys
import types

import cv2
import numpy as np
import pycocotools.mask as mask_utils
import pytest

HAVE_LVIS = importlib.util.find_spec("lvis") is not None
needs_lvis = pytest.mark.skipif(
    not HAVE_LVIS, reason="lvis-api is not installed (pip install lvis==0.5.3 --no-deps)"
)
NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf")


def boundary_band(rle: dict, dilation_ratio: float) -> np.ndarray:
    """A mask's inner boundary band as the boundary-iou-api draws it: the mask minus its cv2
    erosion (3 x 3 square, round(ratio x image diagonal) times, at least once, zero outside)."""
    mask = np.ascontiguousarray(mask_utils.decode(rle))
    h, w = mask.shape
    dilation = max(1, int(round(dilation_ratio * np.sqrt(h**2 + w**2))))
    padded = cv2.copyMakeBorder(mask, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    eroded = cv2.erode(padded, np.ones((3, 3), np.uint8), iterations=dilation)[1 : h + 1, 1 : w + 1]
    return np.asfortranarray(mask - eroded)


def _boundary_compute_iou(evaluator, dilation_ratio: float):
    """LVISEval.compute_iou of the boundary-iou-api's LVIS variant, for evaluator (iou_type
    "segm": its GT and detections are RLEs by then)."""
    mask_ious = evaluator.compute_iou

    def compute_iou(img_id, cat_id):
        ious = mask_ious(img_id, cat_id)
        gt, dt = evaluator._get_gt_dt(img_id, cat_id)
        if len(gt) == 0 or len(dt) == 0:
            return ious
        dt = [dt[i] for i in np.argsort([-d["score"] for d in dt], kind="mergesort")]
        bands = [mask_utils.encode(boundary_band(a["segmentation"], dilation_ratio))
                 for a in dt + gt]
        boundary = mask_utils.iou(bands[: len(dt)], bands[len(dt):], [0] * len(gt))
        return np.minimum(np.asarray(ious), boundary)

    return compute_iou


def lvis_eval(gt: dict, results: list, iou_type: str, tmp_path, max_dets: int = 300,
              cat_ids=None, boundary_ratio: float | None = None) -> dict:
    """LVISEval's AP ... APf (its -1 as NaN); boundary AP with a boundary_ratio (iou_type
    "segm")."""
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
    if boundary_ratio is not None:
        assert iou_type == "segm"
        evaluator.compute_iou = _boundary_compute_iou(evaluator, boundary_ratio)
    restore = not hasattr(np, "float")
    np.float = float  # lvis 0.5.3's accumulate uses np.float, gone from numpy >= 1.24
    try:
        evaluator.run()
    finally:
        if restore:
            del np.float
    return {n: float("nan") if evaluator.results[n] == -1 else float(evaluator.results[n])
            for n in NAMES}
