"""Video phrase AP of SAM 3 (SA-Co/VEval), equal to Meta's sam3.eval VideoPhraseApEvaluator:
COCO-style average precision where each video x phrase pair is one "image" and every phrase one
class-agnostic pool, on the masklet IoU (or the per-frame boxes' IoU, summed over frames, as in
concept_metrics).

Per pair: the predicted masklets by score (the first 100), matched greedily at each IoU threshold
to the best free GT masklet (crowd ones matchable again and ignored); over all pairs: the
detections by score, precision at 101 recall points (made non-increasing from the right), the
mean over recall points and thresholds: AP over IoU 0.50:0.95, at 0.50 and at 0.75 (-1 when no
GT counts). Only the "all" area range and 100 detections are reported, as Meta's keys are.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .concept_inputs import ConceptGroundTruth, Masklet
from .concept_metrics import AT_50, AT_75, IOU_THRESHOLDS, IOU_TYPES, group_by_pair, pair_ious

RECALL_POINTS = np.linspace(0.0, 1.0, 101)
MAX_DETECTIONS = 100


@dataclass(frozen=True)
class PairMatches:
    """One pair's detections in score order: their scores, whether each is matched and whether
    it is ignored (matched to a crowd GT) at each threshold (T x D), and its non-crowd GT count."""

    scores: np.ndarray
    matched: np.ndarray
    ignored: np.ndarray
    num_gt: int


def by_score(preds: list[Masklet]) -> list[Masklet]:
    order = np.argsort([-p.score for p in preds], kind="mergesort")
    return [preds[i] for i in order[:MAX_DETECTIONS]]


def match_pair(preds: list[Masklet], gts: list[Masklet], iou_type: str) -> PairMatches | None:
    if not preds and not gts:
        return None
    preds = by_score(preds)
    gts = [gts[i] for i in np.argsort([g.crowd for g in gts], kind="mergesort")]  # crowd last
    ious = pair_ious(preds, gts, iou_type)
    crowd = np.array([g.crowd for g in gts], dtype=bool)
    matched = np.zeros((len(IOU_THRESHOLDS), len(preds)), dtype=bool)
    ignored = np.zeros_like(matched)
    for t, threshold in enumerate(IOU_THRESHOLDS):
        taken = np.zeros(len(gts), dtype=bool)
        for d in range(len(preds)):
            best, best_iou = -1, min(threshold, 1 - 1e-10)
            for g in range(len(gts)):
                if taken[g] and not crowd[g]:
                    continue
                if best > -1 and not crowd[best] and crowd[g]:
                    break  # a real GT is matched: crowd ones come after, never preferred
                if ious[d, g] < best_iou:
                    continue
                best, best_iou = g, ious[d, g]
            if best > -1:
                matched[t, d], ignored[t, d], taken[best] = True, crowd[best], True
    scores = np.array([p.score for p in preds], dtype=float)
    return PairMatches(scores, matched, ignored, int((~crowd).sum()))


def precision_at_recalls(pairs: list[PairMatches]) -> np.ndarray:
    """T x R interpolated precision over every pair's detections (-1 rows: no GT counts)."""
    precision = -np.ones((len(IOU_THRESHOLDS), len(RECALL_POINTS)))
    num_gt = sum(p.num_gt for p in pairs)
    if not pairs or num_gt == 0:
        return precision
    order = np.argsort(-np.concatenate([p.scores for p in pairs]), kind="mergesort")
    matched = np.concatenate([p.matched for p in pairs], axis=1)[:, order]
    ignored = np.concatenate([p.ignored for p in pairs], axis=1)[:, order]
    tp = np.cumsum(matched & ~ignored, axis=1).astype(float)
    fp = np.cumsum(~matched & ~ignored, axis=1).astype(float)
    for t in range(len(IOU_THRESHOLDS)):
        recall = tp[t] / num_gt
        prec = tp[t] / (fp[t] + tp[t] + np.spacing(1))
        prec = np.maximum.accumulate(prec[::-1])[::-1]  # the best precision at any later recall
        at = np.searchsorted(recall, RECALL_POINTS, side="left")
        precision[t] = 0.0
        reached = at < len(prec)
        precision[t, : reached.sum()] = prec[at[reached]]  # recall points never reached: 0
    return precision


def _mean_defined(values: np.ndarray) -> float:
    kept = values[values > -1]
    return float(np.mean(kept)) if len(kept) else -1.0


def video_phrase_ap(
    gt: ConceptGroundTruth, preds: list[Masklet], iou_types=("bbox", "segm"),
    dataset_name: str = "video",
) -> dict[str, float]:
    """Meta's keys: <dataset>_<mask|bbox>_phrase_ap_50_95, _50 and _75."""
    grouped = group_by_pair(gt, preds)
    results = {}
    for iou_type in iou_types:
        matches = [match_pair(p, g, iou_type) for p, g in grouped.values()]
        precision = precision_at_recalls([m for m in matches if m is not None])
        prefix = f"{dataset_name}_{IOU_TYPES[iou_type]}_phrase_ap"
        results[f"{prefix}_50_95"] = _mean_defined(precision)
        results[f"{prefix}_50"] = _mean_defined(precision[AT_50])
        results[f"{prefix}_75"] = _mean_defined(precision[AT_75])
    return results
