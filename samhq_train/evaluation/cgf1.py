"""cgF1, SAM 3's classification-gated F1, from match counts: the formulas of Meta's CGF1Eval
(images: SA-Co/Gold, saco_metrics.py) and VideoCGF1Evaluator (videos: SA-Co/VEval,
video/concept_metrics.py), their small epsilons kept so the figures equal Meta's."""

from __future__ import annotations

import numpy as np

__all__ = ["IOU_THRESHOLDS", "cgf1_from_counts", "mean_of_defined"]

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)  # pycocotools' Params.iouThrs, the same floats


def cgf1_from_counts(tp, fp, fn, positive_fp, il_tp, il_fp, il_tn, il_fn) -> dict:
    """tp, fp, fn: matches summed over the pairs (arrays over the IoU thresholds); positive_fp:
    the FPs of the pairs with GT alone; il_*: the pair-level presence confusion counts. Returns
    precision, recall, F1, positive_micro_precision / _F1 and cgF1 (arrays) and the IL_ figures
    (numbers)."""
    precision = tp / (tp + fp + 1e-4)
    positive_precision = tp / (tp + positive_fp + 1e-4)
    recall = tp / (tp + fn + 1e-4)
    positive_f1 = 2 * positive_precision * recall / (positive_precision + recall + 1e-4)
    il_tp, il_fp, il_tn, il_fn = (float(n) for n in (il_tp, il_fp, il_tn, il_fn))
    il_precision = il_tp / (il_tp + il_fp + 1e-6)
    il_recall = il_tp / (il_tp + il_fn + 1e-6)
    il_mcc = (il_tp * il_tn - il_fp * il_fn) / (
        ((il_tp + il_fp) * (il_tp + il_fn) * (il_tn + il_fp) * (il_tn + il_fn)) ** 0.5 + 1e-6
    )
    return {
        "precision": precision, "recall": recall,
        "F1": 2 * precision * recall / (precision + recall + 1e-4),
        "positive_micro_precision": positive_precision, "positive_micro_F1": positive_f1,
        "cgF1": positive_f1 * il_mcc,
        "IL_precision": il_precision, "IL_recall": il_recall,
        "IL_F1": 2 * il_precision * il_recall / (il_precision + il_recall + 1e-6),
        "IL_FPR": il_fp / (il_fp + il_tn + 1e-6), "IL_MCC": il_mcc,
    }


def mean_of_defined(values: np.ndarray) -> float:
    """The mean of the values above -1 (-1 is undefined; NaN is left out too), -1 when none is
    (COCOeval's summary, as Meta's evaluators average over the thresholds)."""
    defined = values[values > -1]
    return float(np.mean(defined)) if len(defined) else -1.0
