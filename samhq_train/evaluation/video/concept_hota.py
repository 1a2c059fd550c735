"""Video phrase HOTA (pHOTA) of SAM 3 (SA-Co/VEval), equal to Meta's sam3.eval
VideoPhraseHotaEvaluator (TrackEval's HOTA on YT-VIS data): each video x phrase pair is one
sequence of one class-agnostic class.

Predicted masklets of score above 0.5 are tracks; a frame where a track's mask is empty (or its
box missing or all zero) holds no detection of it; a GT masklet has a detection on every frame
with a mask (a box, for "bbox"). Per frame the detections' IoU is the similarity; per sequence
HOTA counts, at each localisation threshold alpha = 0.05, 0.10, ... 0.95, the per-frame matches
(Hungarian on similarity x the tracks' global alignment) that reach alpha: DetA, DetRe, DetPr
from the TP / FN / FP counts, AssA, AssRe, AssPr from how consistently matched tracks pair up,
LocA the mean similarity of matches, HOTA = sqrt(DetA x AssA), OWTA = sqrt(DetRe x AssA). The
sequences are combined by summed counts (association scores weighted by TP) and every number is
the mean over the 19 alphas.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pycocotools.mask as mask_utils
from scipy.optimize import linear_sum_assignment

from .concept_inputs import ConceptGroundTruth, Masklet
from .concept_metrics import IOU_TYPES, SCORE_THRESHOLD

ALPHAS = np.arange(0.05, 0.99, 0.05)
EPS = np.finfo(float).eps
FIELDS = ("HOTA", "DetA", "AssA", "DetRe", "DetPr", "AssRe", "AssPr", "LocA", "OWTA")
COUNTS = ("TP", "FN", "FP")


def pred_detection(m: Masklet, t: int, iou_type: str):
    """A predicted masklet's detection on frame t, or None (empty mask, missing or zero box)."""
    rle, box = m.segmentations[t], m.bboxes[t]
    if rle is None or box is None or not any(box) or not mask_utils.area(rle):
        return None
    return rle if iou_type == "segm" else box


def gt_detection(m: Masklet, t: int, iou_type: str):
    return m.segmentations[t] if iou_type == "segm" else m.bboxes[t]


def box_similarity(gts: list, preds: list) -> np.ndarray:
    """G x P IoU of [x, y, w, h] boxes in float32 (TrackEval's rules: a box of no area, or a pair
    of no union, has IoU 0)."""
    def corners(boxes):
        b = np.array(boxes, dtype=np.float32).reshape(-1, 4)
        return np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], axis=1)

    g, p = corners(gts), corners(preds)
    lo, hi = np.maximum(g[:, None, :2], p[None, :, :2]), np.minimum(g[:, None, 2:], p[None, :, 2:])
    inter = np.maximum(hi[..., 0] - lo[..., 0], 0) * np.maximum(hi[..., 1] - lo[..., 1], 0)
    area_g = (g[:, 2] - g[:, 0]) * (g[:, 3] - g[:, 1])
    area_p = (p[:, 2] - p[:, 0]) * (p[:, 3] - p[:, 1])
    union = area_g[:, None] + area_p[None, :] - inter
    inter[area_g <= EPS, :] = 0
    inter[:, area_p <= EPS] = 0
    inter[union <= EPS] = 0
    union[union <= EPS] = 1
    return inter / union


@dataclass(frozen=True)
class Sequence:
    """Per frame: the GT and predicted track indices present and their similarity matrix."""

    gt_ids: list[np.ndarray]
    pred_ids: list[np.ndarray]
    similarity: list[np.ndarray]
    num_gt: int
    num_pred: int


def build_sequence(gts: list[Masklet], preds: list[Masklet], iou_type: str) -> Sequence:
    """Tracks numbered 0, 1, ... among those with a detection (GT by annotation id, predictions
    in file order)."""
    gts = sorted(gts, key=lambda m: m.track_id)
    frames = len((gts or preds)[0].segmentations)
    gt_dets = [[gt_detection(m, t, iou_type) for m in gts] for t in range(frames)]
    pred_dets = [[pred_detection(m, t, iou_type) for m in preds] for t in range(frames)]
    seen_gt = [i for i in range(len(gts)) if any(d[i] is not None for d in gt_dets)]
    seen_pred = [i for i in range(len(preds)) if any(d[i] is not None for d in pred_dets)]
    gt_number = {i: n for n, i in enumerate(seen_gt)}
    pred_number = {i: n for n, i in enumerate(seen_pred)}
    gt_ids, pred_ids, similarity = [], [], []
    for g_t, p_t in zip(gt_dets, pred_dets):
        g_on = [i for i, d in enumerate(g_t) if d is not None]
        p_on = [i for i, d in enumerate(p_t) if d is not None]
        g_list, p_list = [g_t[i] for i in g_on], [p_t[i] for i in p_on]
        if iou_type == "bbox":
            sim = box_similarity(g_list, p_list)
        elif g_list and p_list:
            sim = np.asarray(mask_utils.iou(g_list, p_list, [0] * len(p_list)))
        else:
            sim = np.zeros((len(g_list), len(p_list)))
        gt_ids.append(np.array([gt_number[i] for i in g_on], dtype=int))
        pred_ids.append(np.array([pred_number[i] for i in p_on], dtype=int))
        similarity.append(sim)
    return Sequence(gt_ids, pred_ids, similarity, len(seen_gt), len(seen_pred))


def _zeros() -> dict[str, np.ndarray]:
    return {f: np.zeros(len(ALPHAS)) for f in (*FIELDS, *COUNTS)}


def final_fields(res: dict) -> dict:
    tp, fn, fp = res["TP"], res["FN"], res["FP"]
    res["DetRe"] = tp / np.maximum(1, tp + fn)
    res["DetPr"] = tp / np.maximum(1, tp + fp)
    res["DetA"] = tp / np.maximum(1, tp + fn + fp)
    res["HOTA"] = np.sqrt(res["DetA"] * res["AssA"])
    res["OWTA"] = np.sqrt(res["DetRe"] * res["AssA"])
    return res


def global_alignment(seq: Sequence):
    """(alignment of every GT x predicted track, each GT track's and predicted track's
    detection counts)."""
    overlap = np.zeros((seq.num_gt, seq.num_pred))
    gt_count, pred_count = np.zeros((seq.num_gt, 1)), np.zeros((1, seq.num_pred))
    for g, p, sim in zip(seq.gt_ids, seq.pred_ids, seq.similarity):
        denominator = sim.sum(0)[np.newaxis, :] + sim.sum(1)[:, np.newaxis] - sim
        share = np.zeros_like(sim)
        ok = denominator > 0 + EPS
        share[ok] = sim[ok] / denominator[ok]
        overlap[g[:, np.newaxis], p[np.newaxis, :]] += share
        gt_count[g] += 1
        pred_count[0, p] += 1
    return overlap / (gt_count + pred_count - overlap), gt_count, pred_count


def sequence_hota(seq: Sequence) -> dict[str, np.ndarray]:
    res = _zeros()
    num_gt_dets, num_pred_dets = sum(map(len, seq.gt_ids)), sum(map(len, seq.pred_ids))
    if num_pred_dets == 0 or num_gt_dets == 0:  # TrackEval's early return: the rest stays 0
        if num_pred_dets == 0:
            res["FN"] = np.full(len(ALPHAS), float(num_gt_dets))
        else:
            res["FP"] = np.full(len(ALPHAS), float(num_pred_dets))
        res["LocA"] = np.ones(len(ALPHAS))
        return res
    alignment, gt_count, pred_count = global_alignment(seq)
    matches = [np.zeros_like(alignment) for _ in ALPHAS]
    for g, p, sim in zip(seq.gt_ids, seq.pred_ids, seq.similarity):
        if len(g) == 0 or len(p) == 0:
            res["FP"] += len(p)
            res["FN"] += len(g)
            continue
        rows, cols = linear_sum_assignment(-(alignment[g[:, np.newaxis], p[np.newaxis, :]] * sim))
        for a, alpha in enumerate(ALPHAS):
            ok = sim[rows, cols] >= alpha - EPS
            n = int(ok.sum())
            res["TP"][a] += n
            res["FN"][a] += len(g) - n
            res["FP"][a] += len(p) - n
            if n:
                res["LocA"][a] += sum(sim[rows[ok], cols[ok]])
                matches[a][g[rows[ok]], p[cols[ok]]] += 1
    for a, m in enumerate(matches):
        tp = np.maximum(1, res["TP"][a])
        res["AssA"][a] = np.sum(m * (m / np.maximum(1, gt_count + pred_count - m))) / tp
        res["AssRe"][a] = np.sum(m * (m / np.maximum(1, gt_count))) / tp
        res["AssPr"][a] = np.sum(m * (m / np.maximum(1, pred_count))) / tp
    res["LocA"] = np.maximum(1e-10, res["LocA"]) / np.maximum(1e-10, res["TP"])
    return final_fields(res)


def combine(sequences: list[dict]) -> dict[str, np.ndarray]:
    res = {f: sum(s[f] for s in sequences) for f in COUNTS}
    for f in ("AssRe", "AssPr", "AssA"):
        res[f] = sum(s[f] * s["TP"] for s in sequences) / np.maximum(1.0, res["TP"])
    located = sum(s["LocA"] * s["TP"] for s in sequences)
    res["LocA"] = np.maximum(1e-10, located) / np.maximum(1e-10, res["TP"])
    return final_fields(res)


def video_phrase_hota(
    gt: ConceptGroundTruth, preds: list[Masklet], iou_types=("bbox", "segm"),
    dataset_name: str = "video",
) -> tuple[dict[str, float], dict[tuple[int, int], dict[str, float]]]:
    """(Meta's dataset keys <dataset>_<mask|bbox>_all_phrase_<field>, {(video_id, category_id):
    {<mask|bbox>_<field>}}) over the pairs with GT or a prediction above the threshold."""
    kept = [p for p in preds if p.score > SCORE_THRESHOLD]
    pairs = sorted({(m.video_id, m.category_id) for m in [*kept, *gt.masklets]})
    grouped = {pair: ([], []) for pair in pairs}
    for m in kept:
        grouped[m.video_id, m.category_id][0].append(m)
    for m in gt.masklets:
        grouped[m.video_id, m.category_id][1].append(m)
    dataset: dict[str, float] = {}
    per_pair: dict[tuple[int, int], dict[str, float]] = {pair: {} for pair in pairs}
    for iou_type in iou_types:
        name = IOU_TYPES[iou_type]
        results = [sequence_hota(build_sequence(g, p, iou_type)) for p, g in grouped.values()]
        for pair, res in zip(pairs, results):
            per_pair[pair].update({f"{name}_{f}": float(res[f].mean()) for f in FIELDS})
        if results:
            combined = combine(results)
            dataset.update({f"{dataset_name}_{name}_all_phrase_{f}": float(np.mean(combined[f]))
                            for f in FIELDS})
    return dataset, per_pair
