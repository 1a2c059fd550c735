"""Region similarity J, contour accuracy F and their means, as vos-benchmark 0.1.0 (the evaluator
SAM 2 / SA-V report with; the DAVIS 2017 toolkit's per-frame measures) computes them.

Per frame and object (masks: pixels equal to the object id):
- J: intersection over union; 1 when both masks are empty.
- F: boundary F-measure (contours.py): precision = predicted boundary pixels within the radius of
  a GT boundary pixel / predicted boundary pixels, recall the other way round; an empty predicted
  boundary with a GT one is P 1, R 0; the reverse P 0, R 1; both empty P = R = 1; F 0 when
  P + R = 0.
Which objects and frames (SequenceScorer): an object is scored from the first scored frame in
which its id shows in the GT or the prediction, on every scored frame after (also where it left
the GT: an empty GT and an empty prediction score 1); only objects of the GT are reported, so an
id only in the prediction is ignored and an object missing from a predicted frame is an empty
mask. Means (in percent): per object over its frames; a sequence's J, F are the means over its
objects; the overall J, F pool every object of every sequence (not a mean of sequence means);
J&F = (J + F) / 2 at each level.
Void (DAVIS, SequenceScorer(void_id=255)): GT pixels of the void id are no object and are not
scored: they are set to background in the GT and in the prediction before anything else, so J is
the IoU over the non-void pixels and F takes the boundaries of both masks with the void pixels
removed, as the DAVIS 2017 toolkit's db_eval_iou / f_measure do (vos-benchmark has no void).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from samhq_train.mask_png import DAVIS_VOID_ID

from .contours import boundary_map, boundary_radius, dilate


def region_similarity(pred: np.ndarray, gt: np.ndarray) -> float:
    """J of one object in one frame (bool masks)."""
    union = int(np.count_nonzero(pred | gt))
    if union == 0:
        return 1.0
    return int(np.count_nonzero(pred & gt)) / union


def contour_accuracy(pred: np.ndarray, gt: np.ndarray, radius: int) -> float:
    """F of one object in one frame (bool masks), boundary pixels matched within `radius`."""
    pred_edge, gt_edge = boundary_map(pred), boundary_map(gt)
    n_pred, n_gt = int(np.count_nonzero(pred_edge)), int(np.count_nonzero(gt_edge))
    if n_pred == 0 or n_gt == 0:
        precision, recall = (1.0 if n_pred == 0 else 0.0), (1.0 if n_gt == 0 else 0.0)
    else:
        precision = np.count_nonzero(pred_edge & dilate(gt_edge, radius)) / float(n_pred)
        recall = np.count_nonzero(gt_edge & dilate(pred_edge, radius)) / float(n_gt)
    if precision + recall == 0:
        return 0.0
    return 2 * precision * recall / (precision + recall)


def object_ids(label_map: np.ndarray) -> set[int]:
    """The object ids (nonzero values) of an indexed mask."""
    return {int(i) for i in np.unique(label_map) if i != 0}


@dataclass(frozen=True)
class ObjectScore:
    j: float  # percent
    f: float  # percent
    frames: int  # frames it was scored on

    @property
    def jf(self) -> float:
        return (self.j + self.f) / 2


@dataclass(frozen=True)
class SequenceScore:
    name: str
    objects: dict[int | str, ObjectScore]  # object id (DAVIS) or object folder (SA-V)
    frames: int  # frames scored
    void_frames: int = 0  # scored frames whose GT holds void pixels (DAVIS)

    @property
    def j(self) -> float:
        return float(np.mean([o.j for o in self.objects.values()]))

    @property
    def f(self) -> float:
        return float(np.mean([o.f for o in self.objects.values()]))

    @property
    def jf(self) -> float:
        return (self.j + self.f) / 2


class SequenceScorer:
    """Feeds the scored frames of one sequence in order; `result` gives the object means."""

    def __init__(self, name: str, void_id: int | None = None):
        self.name = name
        self.void_id = void_id
        self.void_frames = 0  # frames whose GT holds void pixels
        self.gt_objects: set[int] = set()
        self.tracked: set[int] = set()  # in the GT or the prediction of a frame so far
        self.j: dict[int, list[float]] = {}
        self.f: dict[int, list[float]] = {}
        self.frames = 0

    def add_frame(self, pred: np.ndarray, gt: np.ndarray) -> None:
        """pred, gt: indexed masks (H, W) of one frame, pixel value = object id."""
        if pred.shape != gt.shape:
            raise ValueError(f"{self.name}: prediction {pred.shape} and GT {gt.shape} differ")
        if self.void_id is not None:
            void = gt == self.void_id
            if void.any():
                self.void_frames += 1
                pred, gt = np.where(void, 0, pred), np.where(void, 0, gt)
        in_gt = object_ids(gt)
        self.gt_objects |= in_gt
        self.tracked |= in_gt | object_ids(pred)
        radius = boundary_radius(*gt.shape)
        for obj in sorted(self.tracked):
            pred_mask, gt_mask = pred == obj, gt == obj
            self.j.setdefault(obj, []).append(region_similarity(pred_mask, gt_mask))
            self.f.setdefault(obj, []).append(contour_accuracy(pred_mask, gt_mask, radius))
        self.frames += 1

    def result(self) -> SequenceScore:
        objects = {
            obj: ObjectScore(
                j=float(np.mean(self.j[obj]) * 100),
                f=float(np.mean(self.f[obj]) * 100),
                frames=len(self.j[obj]),
            )
            for obj in sorted(self.gt_objects)
        }
        return SequenceScore(self.name, objects, self.frames, self.void_frames)


@dataclass(frozen=True)
class OverallScore:
    j: float
    f: float
    objects: int

    @property
    def jf(self) -> float:
        return (self.j + self.f) / 2


def overall_score(sequences: list[SequenceScore]) -> OverallScore:
    """J, F over every object of every sequence (each object counts once)."""
    objects = [o for s in sequences for o in s.objects.values()]
    if not objects:
        raise ValueError("no object to average: no sequence has an object in its scored frames")
    return OverallScore(
        j=float(np.mean([o.j for o in objects])),
        f=float(np.mean([o.f for o in objects])),
        objects=len(objects),
    )


__all__ = [
    "DAVIS_VOID_ID", "ObjectScore", "OverallScore", "SequenceScore", "SequenceScorer",
    "contour_accuracy", "object_ids", "overall_score", "region_similarity",
]
