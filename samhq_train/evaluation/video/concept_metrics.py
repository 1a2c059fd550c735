"""Video concept segmentation metrics of SAM 3 (SA-Co/VEval): cgF1, IL_MCC and positive micro F1,
dataset-wide and per video x noun-phrase pair, equal to Meta's sam3.eval VideoCGF1Evaluator.

Each (video, phrase) pair is scored on its own: the predicted masklets of score >= 0.5 against
the pair's GT masklets (crowd ones left out), matched one to one by the Hungarian method on the
masklet IoU (intersection over union summed over all frames; two masklets empty on every frame
have IoU 1), a match a true positive at each IoU threshold 0.50, 0.55, ... 0.95 it reaches. The
pair is an image-level TP (GT and predictions), FP (predictions only), FN (GT only) or TN
(neither). Over the dataset: precision, recall and F1 of the summed counts; positive micro F1
leaves out the FPs of pairs without GT; IL_MCC is the Matthews correlation of the pair-level
counts; cgF1 = positive micro F1 x IL_MCC. The small epsilons of Meta's formulas are kept, so the
numbers agree to the last bits. Boxes ("bbox") are scored the same way on the per-frame boxes,
with the box IoU summed over frames in float32 as Meta's torch code does.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import pycocotools.mask as mask_utils
import torch
from scipy.optimize import linear_sum_assignment

from ..cgf1 import IOU_THRESHOLDS, cgf1_from_counts, mean_of_defined
from .concept_inputs import ConceptGroundTruth, Masklet

AT_50, AT_75 = 0, 5  # positions of IoU 0.50 and 0.75 in IOU_THRESHOLDS
SCORE_THRESHOLD = 0.5  # a predicted masklet counts when its score is at least this
IOU_TYPES = {"segm": "mask", "bbox": "bbox"}  # iou type -> the name in Meta's result keys


def masklet_iou(pred: list[dict | None], gt: list[dict | None]) -> float:
    """Intersection over union of two masklets, summed over their frames."""
    inter = union = 0
    for p, g in zip(pred, gt):
        if p and g:
            inter += int(mask_utils.area(mask_utils.merge([p, g], intersect=True)))
            union += int(mask_utils.area(mask_utils.merge([p, g], intersect=False)))
        elif p or g:
            union += int(mask_utils.area(p or g))
    return inter / union if union else 1.0


def _corners(boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    x, y, w, h = boxes.unbind(-1)
    return torch.stack([x, y], -1), torch.stack([x + w, y + h], -1)


def box_track_ious(preds: list[Masklet], gts: list[Masklet]) -> np.ndarray:
    """P x G IoU of the per-frame boxes (a missing box: all zeros), intersections and unions
    summed over the frames (1 where both have no box on any frame). The tensors are made from
    the JSON numbers as Meta makes them
    (integers stay int64, floats become float32), so the float32 sums round the same way."""
    def tensor(masklets):
        return torch.tensor([[b if b is not None else [0, 0, 0, 0] for b in m.bboxes]
                             for m in masklets])

    p_lo, p_hi = _corners(tensor(preds).unsqueeze(1))
    g_lo, g_hi = _corners(tensor(gts).unsqueeze(0))
    inter = (torch.min(p_hi, g_hi) - torch.max(p_lo, g_lo)).clamp(min=0).prod(-1)
    union = (p_hi - p_lo).prod(-1) + (g_hi - g_lo).prod(-1) - inter
    inter, union = inter.sum(-1), union.sum(-1)
    # no box on any frame of either: IoU 1 as for masks (Meta's code stops on an assertion)
    return torch.where(union > 0, inter / union, torch.ones_like(inter / union)).numpy()


def pair_ious(preds: list[Masklet], gts: list[Masklet], iou_type: str) -> np.ndarray:
    if not preds or not gts:
        return np.zeros((len(preds), len(gts)))
    if iou_type == "bbox":
        return box_track_ious(preds, gts)
    return np.array([[masklet_iou(p.segmentations, g.segmentations) for g in gts] for p in preds])


@dataclass(frozen=True)
class PairCounts:
    """One (video, phrase) pair: its GT and kept prediction counts and, unless both are zero,
    the TP / FP / FN counts at each IoU threshold."""

    num_gt: int
    num_pred: int
    tp: np.ndarray | None = None
    fp: np.ndarray | None = None
    fn: np.ndarray | None = None

    @property
    def image_level(self) -> str:
        return {(True, True): "TP", (False, True): "FP", (True, False): "FN",
                (False, False): "TN"}[(self.num_gt > 0, self.num_pred > 0)]


def count_pair(preds: list[Masklet], gts: list[Masklet], iou_type: str) -> PairCounts:
    gts = [g for g in gts if not g.crowd]
    preds = [p for p in preds if p.score >= SCORE_THRESHOLD]
    if not gts and not preds:
        return PairCounts(0, 0)
    ious = pair_ious(preds, gts, iou_type)
    rows, cols = linear_sum_assignment(-ious)
    matched = ious[rows, cols]
    tp = np.array([(matched >= t).sum() for t in IOU_THRESHOLDS], dtype=np.int64)
    return PairCounts(len(gts), len(preds), tp, len(preds) - tp, len(gts) - tp)


def group_by_pair(gt: ConceptGroundTruth, preds: list[Masklet]):
    """{(video_id, category_id): (predictions, GT masklets)} over every pair with GT, with
    predictions, or asked in video_np_pairs."""
    pairs = {(m.video_id, m.category_id) for m in [*preds, *gt.masklets]}
    pairs |= set(gt.pairs or ())
    grouped = {pair: ([], []) for pair in sorted(pairs)}
    for m in preds:
        grouped[m.video_id, m.category_id][0].append(m)
    for m in gt.masklets:
        grouped[m.video_id, m.category_id][1].append(m)
    return grouped


def pair_record(counts: PairCounts, prefix: str) -> dict[str, float]:
    """Meta's per video x phrase numbers: TP / FP / FN / F1 over the thresholds, at 0.5, 0.75
    (F1 1.0 where there is nothing to count)."""
    zero = np.zeros(len(IOU_THRESHOLDS), dtype=np.int64)
    tp, fp, fn = (zero, zero, zero) if counts.tp is None else (counts.tp, counts.fp, counts.fn)
    denominator = 2 * tp + fp + fn
    f1 = np.where(denominator > 0, 2 * tp / np.maximum(denominator, 1), 1.0)
    record = {}
    picks = (("50_95", np.mean), ("50", lambda a: a[AT_50]), ("75", lambda a: a[AT_75]))
    for suffix, pick in picks:
        for name, values in (("TP", tp), ("FP", fp), ("FN", fn), ("F1", f1)):
            record[f"{prefix}_{name}_{suffix}"] = float(pick(values))
    return record


def dataset_metrics(all_counts: list[PairCounts]) -> dict[str, np.ndarray | float]:
    """cgf1.cgf1_from_counts of the pairs' summed counts (arrays over the thresholds; the IL_
    figures one number each)."""
    zero = np.zeros(len(IOU_THRESHOLDS), dtype=np.int64)
    tp, fp, fn, positive_fp = zero.copy(), zero.copy(), zero.copy(), zero.copy()
    for c in all_counts:
        if c.tp is not None:
            tp, fp, fn = tp + c.tp, fp + c.fp, fn + c.fn
            if c.num_gt > 0:
                positive_fp = positive_fp + c.fp
    il = Counter(c.image_level for c in all_counts)
    return cgf1_from_counts(tp, fp, fn, positive_fp, *(il[k] for k in ("TP", "FP", "TN", "FN")))


def summary_record(metrics: dict, prefix: str) -> dict[str, float]:
    """Meta's dataset-level keys: cgF1, IL_MCC and positive micro F1 over 0.50:0.95, at 0.50 and
    at 0.75 (there IL_MCC is cgF1 / positive micro F1, NaN where the latter is 0)."""
    cgf1, pmf1 = metrics["cgF1"], metrics["positive_micro_F1"]
    record = {
        f"{prefix}_cgf1_micro_50_95": mean_of_defined(cgf1),
        f"{prefix}_ilmcc_50_95": float(metrics["IL_MCC"]),
        f"{prefix}_positive_micro_f1_50_95": mean_of_defined(pmf1),
    }
    for suffix, at in (("50", AT_50), ("75", AT_75)):
        with np.errstate(divide="ignore", invalid="ignore"):
            ilmcc = float(np.float64(cgf1[at]) / np.float64(pmf1[at]))
        record[f"{prefix}_cgf1_micro_{suffix}"] = float(cgf1[at])
        record[f"{prefix}_ilmcc_{suffix}"] = ilmcc
        record[f"{prefix}_positive_micro_f1_{suffix}"] = float(pmf1[at])
    return record


def video_cgf1(
    gt: ConceptGroundTruth, preds: list[Masklet], iou_types=("bbox", "segm"),
    dataset_name: str = "video",
) -> tuple[dict[str, float], dict[tuple[int, int], dict[str, float]]]:
    """(dataset-level numbers, {(video_id, category_id): per-pair numbers}) under Meta's names;
    the dataset-level ones only when the GT lists its video x phrase pairs."""
    grouped = group_by_pair(gt, preds)
    results: dict[str, float] = {}
    per_pair: dict[tuple[int, int], dict[str, float]] = {pair: {} for pair in grouped}
    for iou_type in iou_types:
        name = IOU_TYPES[iou_type]
        counts = {pair: count_pair(p, g, iou_type) for pair, (p, g) in grouped.items()}
        for pair, c in counts.items():
            per_pair[pair].update(pair_record(c, name))
        if gt.pairs is not None:
            metrics = dataset_metrics(list(counts.values()))
            results.update(summary_record(metrics, f"{dataset_name}_{name}_demo"))
    return results, per_pair
