"""SA-Co's image metrics of promptable concept segmentation (the SAM 3 paper's SA-Co/Gold and
Silver benchmarks): cgF1 = positive-micro F1 x IL_MCC, and the figures it is made of.

A datapoint is an (image, noun phrase) pair: an entry of the json's "images" with its
``text_input``; its GT instances are the annotations of that id (``iscrowd`` ones ignored), and a
pair without any is a negative. The definitions are those of Meta's ``CGF1Evaluator`` (sam3 0.1.4,
which the tests compare with, every figure within 1e-12):

- a prediction counts when its score is >= the threshold (0.5); its ``category_id`` must be one
  of the GT's categories (SA-Co has one, "object"), otherwise it is left out;
- per pair, predictions and GT instances are matched one to one for the largest total mask IoU
  (Hungarian); at each IoU threshold t in 0.50:0.05:0.95, TP = matches with IoU >= t,
  FP = predictions - TP, FN = instances - TP;
- image level (IL_*): a pair is positive when it has an instance, predicted positive when it has
  a counted prediction; IL_MCC is the Matthews correlation of those;
- the sums over pairs give precision, recall and F1 (micro); the positive-micro figures count the
  FPs of the pairs that are positive and predicted positive only (a false positive on a negative
  pair is IL_MCC's to punish); positive_macro_F1 averages those pairs' own F1 (-1 without any);
- several GT files (SA-Co/Gold's three annotators): each pair is scored against each, and the
  most favourable is kept (the oracle): a higher mean F1 over the IoU thresholds, or a true
  negative (no instance, no prediction), which beats any; ties keep the earlier file;
- only pairs that every file marks ``is_instance_exhaustive`` are scored;
- iou_type "bbox" (Meta's CGF1Evaluator(iou_type="bbox") on the same files) matches by the box
  IoU of the predictions' "bbox" and the instances' "bbox" instead (an entry without one: the
  box of its mask, as pycocotools' loadRes derives a result's; Meta's stops on an instance
  without one);
- the epsilons of Meta's ratios (1e-4 for the box-level ones, 1e-6 for the image-level ones) are
  kept: with them a ratio of nothing is 0, and figures equal Meta's to the last digit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from scipy.optimize import linear_sum_assignment

from samhq_train.evaluation.cgf1 import IOU_THRESHOLDS, cgf1_from_counts, mean_of_defined
from samhq_train.evaluation.coco_gt_fields import check_gt_fields
from samhq_train.evaluation.coco_inputs import read_coco_gt
from samhq_train.evaluation.errors import EvaluationError

__all__ = [
    "CGF1_THRESHOLD", "IOU_THRESHOLDS", "IOU_TYPES", "PER_THRESHOLD", "SacoGT", "cgf1_metrics",
    "read_saco_gt", "score_pair",
]

CGF1_THRESHOLD = 0.5  # the score a prediction needs to count (CGF1Eval's default)
IOU_TYPES = ("segm", "bbox")  # what a match's IoU is of: masks, boxes (Meta's iou_type)
# the figures given per IoU threshold (their mean, @0.5, @0.75); the IL_* ones are single
PER_THRESHOLD = (
    "cgF1", "precision", "recall", "F1", "positive_macro_F1", "positive_micro_F1",
    "positive_micro_precision",
)
IMAGE_LEVEL = ("IL_precision", "IL_recall", "IL_F1", "IL_FPR", "IL_MCC")


@dataclass(frozen=True)
class SacoGT:
    """The GT files of one SA-Co subset (one per annotator, the same pairs in each) and the ids
    of the pairs scored (exhaustively annotated in every file), in the first file's order."""

    files: tuple[COCO, ...]
    paths: tuple[str, ...]
    pair_ids: tuple

    def pair(self, pair_id) -> Mapping:
        """The first file's "images" entry of a pair (file_name, text_input, height, width)."""
        return self.files[0].imgs[pair_id]


@dataclass(frozen=True)
class PairScore:
    """One pair against one GT file: its instance and counted-prediction numbers, and per IoU
    threshold its TPs (None for a true negative: no instance, no prediction)."""

    n_gt: int
    n_dt: int
    tp: np.ndarray | None

    @property
    def local_f1(self) -> np.ndarray:
        fp, fn = self.n_dt - self.tp, self.n_gt - self.tp
        precision, recall = self.tp / (self.tp + fp + 1e-4), self.tp / (self.tp + fn + 1e-4)
        return 2 * precision * recall / (precision + recall + 1e-4)


def _check_pairs(coco: COCO, path) -> None:
    for entry in coco.dataset["images"]:
        if not isinstance(entry.get("file_name"), str):
            raise EvaluationError(
                f"{path}: image {entry['id']!r} has no file_name (its image, under "
                "coco.image_dir)"
            )
        text = entry.get("text_input")
        if not isinstance(text, str) or not text.strip():
            raise EvaluationError(
                f"{path}: image {entry['id']!r} has no text_input; an SA-Co json pairs "
                "each image with its noun phrase (\"text_input\": \"a red car\")"
            )
        if not isinstance(entry.get("is_instance_exhaustive"), bool):
            raise EvaluationError(
                f"{path}: image {entry['id']!r} has no is_instance_exhaustive "
                "(true / false); SA-Co scores only the exhaustively annotated pairs"
            )


# what score_pair reads of every GT instance (its bbox and iscrowd where given)
SACO_FIELDS = ("segmentation",)


def read_saco_gt(paths: str | Path | Sequence) -> SacoGT:
    """The SA-Co GT files read and checked: EvaluationError naming the file for one that cannot
    be read, a pair without text_input or is_instance_exhaustive, an entry as COCO's are checked
    (coco_gt_fields.check_gt_fields: ids, image sizes, an instance without its segmentation or
    naming no pair or category, a segmentation, bbox, area or iscrowd that is not one), files
    whose pairs differ, or no pair to score."""
    paths = [str(paths)] if isinstance(paths, str | Path) else [str(p) for p in paths]
    if not paths:
        raise EvaluationError("no SA-Co GT file given")
    files = tuple(read_coco_gt(path) for path in paths)
    for coco, path in zip(files, paths):
        if not coco.getCatIds():
            raise EvaluationError(
                f"{path}: no categories; an SA-Co json has one ({{\"id\": 1, \"name\": "
                "\"object\"}), the category of every instance and prediction"
            )
        check_gt_fields(coco.dataset, path, SACO_FIELDS)
        _check_pairs(coco, path)  # the images' ids checked above
    first = {i: (e["file_name"], e["text_input"]) for i, e in files[0].imgs.items()}
    for coco, path in zip(files[1:], paths[1:]):
        pairs = {i: (e.get("file_name"), e["text_input"]) for i, e in coco.imgs.items()}
        if pairs != first:
            differ = sorted(set(pairs.items()) ^ set(first.items()), key=str)[:2]
            raise EvaluationError(
                f"{path} and {paths[0]} do not hold the same (image, noun phrase) pairs "
                f"(e.g. {differ}); give the annotator files of one subset"
            )
    partial = {i for coco in files[1:] for i, e in coco.imgs.items()
               if not e["is_instance_exhaustive"]}
    pair_ids = tuple(e["id"] for e in files[0].dataset["images"]
                     if e["is_instance_exhaustive"] and e["id"] not in partial)
    if not pair_ids:
        raise EvaluationError(f"{paths[0]}: no exhaustively annotated pair to score")
    return SacoGT(files=files, paths=tuple(paths), pair_ids=pair_ids)


def _in_category_order(entries: Sequence[Mapping], category_ids: Sequence) -> list:
    """The entries of the GT's categories, grouped in category id order (as COCOeval gathers
    them with useCats off), each group in its own order."""
    return [e for c in category_ids for e in entries if e["category_id"] == c]


def score_pair(
    coco: COCO, pair_id, predictions: Sequence[Mapping], threshold: float, iou_type: str = "segm"
) -> PairScore:
    """One pair's predictions (COCO results of this pair) against one GT file's instances, by
    mask or box IoU (iou_type "segm" or "bbox")."""
    category_ids = sorted(coco.getCatIds())
    gts = [g for g in _in_category_order(coco.imgToAnns.get(pair_id, []), category_ids)
           if not g.get("iscrowd")]
    dts = [d for d in _in_category_order(predictions, category_ids) if d["score"] >= threshold]
    if not gts and not dts:
        return PairScore(0, 0, None)
    tp = np.zeros(len(IOU_THRESHOLDS), dtype=np.int64)
    if gts and dts:
        region = _box if iou_type == "bbox" else _mask
        ious = mask_utils.iou(
            [region(coco, {**d, "image_id": pair_id}) for d in dts],
            [region(coco, g) for g in gts],
            [0] * len(gts),
        )
        rows, cols = linear_sum_assignment(-ious)
        matched = ious[rows, cols]
        tp = np.array([(matched >= t).sum() for t in IOU_THRESHOLDS], dtype=np.int64)
    return PairScore(len(gts), len(dts), tp)


def _mask(coco: COCO, entry: Mapping):
    return coco.annToRLE(entry)


def _box(coco: COCO, entry: Mapping) -> list[float]:
    """An entry's [x, y, w, h]: its "bbox", else the box of its mask."""
    box = entry.get("bbox")
    return [float(v) for v in box] if box else mask_utils.toBbox(coco.annToRLE(entry)).tolist()


def _oracle(scores: Sequence[PairScore]) -> PairScore:
    """The most favourable of a pair's scores against the GT files (module docstring)."""
    best = scores[0]
    for score in scores[1:]:
        if best.tp is not None and score.tp is not None:
            if score.local_f1.mean() > best.local_f1.mean():
                best = score
        elif score.tp is None:
            best = score
    return best


def cgf1_metrics(
    gt: SacoGT,
    predictions: Sequence[Mapping],
    threshold: float = CGF1_THRESHOLD,
    iou_type: str = "segm",
) -> dict[str, float]:
    """Every figure of Meta's CGF1Evaluator (its iou_type: "segm" masks, "bbox" boxes) for COCO
    results ``[{image_id (the pair's id), category_id, score, segmentation: RLE, bbox}]``: the
    PER_THRESHOLD ones as their mean over the IoU thresholds and at 0.5 and 0.75 (``"cgF1"``,
    ``"cgF1@0.5"``, ``"cgF1@0.75"``, ...), and the IL_* ones; fractions (cgF1 0.42, not 42). A
    figure without any pair to average is -1 (Meta's convention). Predictions of pairs not
    scored are ignored."""
    if iou_type not in IOU_TYPES:
        raise ValueError(f"iou_type={iou_type!r}: use one of {IOU_TYPES}")
    by_pair: dict = {}
    for prediction in predictions:
        by_pair.setdefault(prediction["image_id"], []).append(prediction)
    chosen = [
        _oracle([score_pair(coco, i, by_pair.get(i, []), threshold, iou_type)
                 for coco in gt.files])
        for i in gt.pair_ids
    ]
    return _summary(chosen)


def _summary(chosen: Sequence[PairScore]) -> dict[str, float]:
    n = len(IOU_THRESHOLDS)
    tp, fp, fn, positive_fp = (np.zeros(n, dtype=np.int64) for _ in range(4))
    f1_sum, n_positive = np.zeros(n), 0
    il = {"tp": 0, "fp": 0, "tn": 0, "fn": 0}
    for s in chosen:
        il[("t" if (s.n_gt > 0) == (s.n_dt > 0) else "f") + ("p" if s.n_dt else "n")] += 1
        if s.tp is None:
            continue
        tp, fp, fn = tp + s.tp, fp + (s.n_dt - s.tp), fn + (s.n_gt - s.tp)
        if s.n_gt and s.n_dt:
            f1_sum, n_positive = f1_sum + s.local_f1, n_positive + 1
            positive_fp = positive_fp + (s.n_dt - s.tp)
    with np.errstate(invalid="ignore"):  # no positive pair predicted positive: -1 below
        macro_f1 = f1_sum / n_positive
    figures = cgf1_from_counts(tp, fp, fn, positive_fp, il["tp"], il["fp"], il["tn"], il["fn"])
    figures["positive_macro_F1"] = macro_f1
    out: dict[str, float] = {}
    for name in PER_THRESHOLD:
        values = figures[name]
        out[name] = mean_of_defined(values)
        for t in (0.5, 0.75):
            out[f"{name}@{t}"] = mean_of_defined(values[np.where(t == IOU_THRESHOLDS)[0]])
    out.update({name: figures[name] for name in IMAGE_LEVEL})
    return {k: float(v) for k, v in out.items()}
