"""LVIS's federated AP (Gupta et al., CVPR 2019), the figures lvis-api's LVISEval reports: AP,
AP50, AP75, APs / APm / APl and APr / APc / APf (rare / common / frequent categories).

LVIS is labelled per image x category: an image is scored only on the categories verified in it,
present (it has GT of them) or absent (its ``neg_category_ids``); a detection of any other
category is left out. On an image's ``not_exhaustive_category_ids`` (not every instance
labelled) a detection that matches no GT is no false positive. At most ``max_detections`` (300)
detections count per image, its highest scores. There are no crowd regions (a GT's ``ignore``
flag is honoured); matching, the 101-point precision and the size ranges are COCO's. The rules
and the arithmetic follow lvis-api 0.5.3 step by step (tests/evaluation/test_lvis_eval.py
checks them against it); lvis-api is not needed to run this.

Boundary AP under the same rules (iou_type "boundary") is the boundary-iou-api's LVIS variant:
each pair's IoU is min(mask IoU, boundary IoU), as COCO's boundary AP (coco.BoundaryCOCOeval),
everything else as for masks (the mask areas choose the size range).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np
import pycocotools.mask as mask_utils
from pycocotools.coco import COCO

from samhq_train.constants import BOUNDARY_DILATION_RATIO
from samhq_train.evaluation.coco import boundary_rles

__all__ = ["FREQUENCIES", "LVIS_AP_NAMES", "LVIS_MAX_DETECTIONS", "federated_ap"]

LVIS_MAX_DETECTIONS = 300  # per image: LVIS's limit (lvis-api's LVISResults, the challenge's)
FREQUENCIES = ("r", "c", "f")  # a category's "frequency": rare, common, frequent
IOU_TYPES = ("segm", "boundary", "bbox")  # mask AP, boundary AP, box AP
LVIS_AP_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "APr", "APc", "APf")
IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
RECALL_THRESHOLDS = np.linspace(0.0, 1.0, 101)
AREA_RANGES = {"all": (0, 1e5**2), "small": (0, 32**2), "medium": (32**2, 96**2),
               "large": (96**2, 1e5**2)}


def top_per_image(results: Sequence[Mapping], max_detections: int) -> list[Mapping]:
    """Each image's max_detections highest-scoring results (ties in the given order)."""
    per_image: dict = defaultdict(list)
    for result in results:
        per_image[result["image_id"]].append(result)
    kept = []
    for found in per_image.values():
        if len(found) > max_detections:
            found = sorted(found, key=lambda r: -r["score"])[:max_detections]
        kept.extend(found)
    return kept


def _area(result: Mapping, iou_type: str) -> float:
    if iou_type == "bbox":
        return result["bbox"][2] * result["bbox"][3]
    return float(mask_utils.area(result["segmentation"]))


def _regions(anns: Sequence[Mapping], iou_type: str, coco_gt: COCO | None = None) -> list:
    if iou_type == "bbox":
        return [a["bbox"] for a in anns]
    if coco_gt is not None:  # GT polygons / uncompressed RLEs -> RLE at the image's size
        return [coco_gt.annToRLE(a) for a in anns]
    return [a["segmentation"] for a in anns]


def _ious(dt: list, gt: list, iou_type: str, coco_gt: COCO, dilation_ratio: float) -> np.ndarray:
    """D x G IoU of one image x category's detections (in score order) and GT: box IoU, mask
    IoU, or min(mask IoU, boundary IoU) for "boundary"."""
    if not gt or not dt:
        return np.zeros((len(dt), len(gt)))
    dt_regions, gt_regions = _regions(dt, iou_type), _regions(gt, iou_type, coco_gt)
    ious = np.asarray(mask_utils.iou(dt_regions, gt_regions, [0] * len(gt)))
    if iou_type == "boundary":
        bands = boundary_rles(gt_regions + dt_regions, dilation_ratio)
        ious = np.minimum(ious, mask_utils.iou(bands[len(gt):], bands[:len(gt)], [0] * len(gt)))
    return ious


def _match(ious: np.ndarray, gt_ignored: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Greedy matching at each IoU threshold, detections in score order (COCO's): a detection
    takes the unmatched GT of the highest IoU >= the threshold, a GT not ignored before an ignored
    one. Returns (matched T x D, matched to an ignored GT T x D)."""
    n_dt, n_gt = ious.shape
    matched = np.zeros((len(IOU_THRESHOLDS), n_dt), bool)
    on_ignored = np.zeros((len(IOU_THRESHOLDS), n_dt), bool)
    if n_gt == 0 or n_dt == 0:
        return matched, on_ignored
    for t, threshold in enumerate(IOU_THRESHOLDS):
        gt_taken = np.zeros(n_gt, bool)
        for d in range(n_dt):
            best_iou, best = min(threshold, 1 - 1e-10), -1
            for g in range(n_gt):
                if gt_taken[g]:
                    continue
                if best > -1 and not gt_ignored[best] and gt_ignored[g]:
                    break  # GT are ordered not-ignored first
                if ious[d, g] < best_iou:
                    continue
                best_iou, best = ious[d, g], g
            if best > -1:
                gt_taken[best] = matched[t, d] = True
                on_ignored[t, d] = gt_ignored[best]
    return matched, on_ignored


def _score_pair(gt: list, dt: list, ious: np.ndarray, not_exhaustive: bool, area_range) -> dict:
    """One image x category at one size range: dt in score order, ious D x G."""
    lo, hi = area_range
    gt_ignored = np.array([bool(g.get("ignore", 0)) or not lo <= g["area"] <= hi for g in gt],
                          bool)
    order = np.argsort(gt_ignored, kind="mergesort")
    gt_ignored = gt_ignored[order]
    matched, ignored = _match(ious[:, order], gt_ignored)
    dt_outside = np.array([not lo <= d["area"] <= hi for d in dt], bool)
    # an unmatched detection outside the range, or of a not exhaustively labelled category
    ignored |= ~matched & (dt_outside | not_exhaustive)[None, :]
    return {"scores": np.array([d["score"] for d in dt], float), "matched": matched,
            "ignored": ignored, "n_gt": int((~gt_ignored).sum())}


def _precision(pairs: list[dict]) -> np.ndarray | None:
    """T x R interpolated precision of one category at one size range over its images (in image
    order); None when it has no GT to find there."""
    n_gt = sum(p["n_gt"] for p in pairs)
    if n_gt == 0:
        return None
    scores = np.concatenate([p["scores"] for p in pairs])
    order = np.argsort(-scores, kind="mergesort")
    matched = np.concatenate([p["matched"] for p in pairs], axis=1)[:, order]
    ignored = np.concatenate([p["ignored"] for p in pairs], axis=1)[:, order]
    true_pos = np.cumsum(matched & ~ignored, axis=1).astype(float)
    false_pos = np.cumsum(~matched & ~ignored, axis=1).astype(float)
    precision = np.zeros((len(IOU_THRESHOLDS), len(RECALL_THRESHOLDS)))
    for t in range(len(IOU_THRESHOLDS)):
        recall = true_pos[t] / n_gt
        found = true_pos[t] / (false_pos[t] + true_pos[t] + np.spacing(1))
        found = np.maximum.accumulate(found[::-1])[::-1]  # the best precision at >= this recall
        at = np.searchsorted(recall, RECALL_THRESHOLDS, side="left")
        reached = at < len(found)
        precision[t, reached] = found[at[reached]]
    return precision


def federated_ap(
    coco_gt: COCO,
    results: Sequence[Mapping],
    iou_type: str,
    *,
    category_ids: Sequence | None = None,
    max_detections: int = LVIS_MAX_DETECTIONS,
    dilation_ratio: float = BOUNDARY_DILATION_RATIO,
) -> dict[str, float]:
    """LVIS AP of results against an LVIS GT (read as a COCO object; every image with
    ``neg_category_ids`` and ``not_exhaustive_category_ids``, every category with a
    ``frequency``: lvis_gt.check_lvis_gt).

    Args:
        results: ``{"image_id", "category_id", "score"}`` with ``"segmentation"`` (a compressed
            RLE at the image's size) for iou_type "segm" or "boundary", or ``"bbox"``
            ([x, y, w, h]) for "bbox".
        iou_type: "segm" (mask AP), "boundary" (boundary AP) or "bbox" (box AP).
        category_ids: the categories averaged over; None: all of the GT.
        dilation_ratio: boundary width as a fraction of the image diagonal ("boundary").

    Returns:
        ``AP, AP50, AP75, APs, APm, APl, APr, APc, APf`` (fractions; NaN where no category has
        GT of that size or frequency: LVISEval's -1).
    """
    if iou_type not in IOU_TYPES:
        raise ValueError(f"iou_type {iou_type!r}: one of {', '.join(IOU_TYPES)}")
    categories = sorted(coco_gt.cats if category_ids is None else category_ids)
    wanted = set(categories)
    gts: dict = defaultdict(list)
    for image_id in coco_gt.imgs:
        for ann in coco_gt.imgToAnns.get(image_id, []):
            if ann["category_id"] in wanted:
                gts[image_id, ann["category_id"]].append(ann)
    verified = {i: set(info["neg_category_ids"]) for i, info in coco_gt.imgs.items()}
    for image_id, category_id in gts:
        verified[image_id].add(category_id)
    dts: dict = defaultdict(list)
    for result in top_per_image(results, max_detections):
        key = (result["image_id"], result["category_id"])
        if key[1] in wanted and key[1] in verified[key[0]]:
            dts[key].append({**result, "area": _area(result, iou_type)})
    pairs_of: dict = defaultdict(list)  # category: [(image, its scored pair per size range)]
    for image_id, category_id in sorted(set(gts) | set(dts)):
        gt = gts[image_id, category_id]
        dt = sorted(dts[image_id, category_id], key=lambda d: -d["score"])
        ious = _ious(dt, gt, iou_type, coco_gt, dilation_ratio)
        not_exhaustive = category_id in coco_gt.imgs[image_id]["not_exhaustive_category_ids"]
        pairs_of[category_id].append({size: _score_pair(gt, dt, ious, not_exhaustive, bounds)
                                      for size, bounds in AREA_RANGES.items()})
    # precision[size]: T x R x K, -1 where a category has no GT of that size
    precision = {size: -np.ones((len(IOU_THRESHOLDS), len(RECALL_THRESHOLDS), len(categories)))
                 for size in AREA_RANGES}
    for k, category_id in enumerate(categories):
        for size in AREA_RANGES:
            found = _precision([pair[size] for pair in pairs_of[category_id]])
            if found is not None:
                precision[size][:, :, k] = found
    frequency = [coco_gt.cats[c]["frequency"] for c in categories]
    selections = {
        "AP": precision["all"],
        "AP50": precision["all"][IOU_THRESHOLDS == 0.5],
        "AP75": precision["all"][IOU_THRESHOLDS == 0.75],
        "APs": precision["small"], "APm": precision["medium"], "APl": precision["large"],
        **{f"AP{f}": precision["all"][:, :, [x == f for x in frequency]] for f in FREQUENCIES},
    }
    return {name: float(np.mean(s[s > -1])) if (s > -1).any() else float("nan")
            for name, s in selections.items()}
