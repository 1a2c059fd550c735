"""Where a click goes: the one placement rule of click-based evaluation and correction-click
training, and the click protocol's settings (the config's ``clicks.*``).

The rule (the standard protocol of interactive segmentation: RITM, SimpleClick, the SAM paper's
point evaluation): the next click goes to the interior of the largest error region. Errors are
the missed pixels (GT and not predicted) and the false pixels (predicted and not GT); each
pixel's depth is its Euclidean distance to the nearest pixel outside its error (the image border
counts as outside). The click is the deepest error pixel: positive when it is missed, negative
when it is false (a tie goes to the negative click); among equally deep pixels the first in
row-major order, so the protocol is deterministic. "Largest" is thus the widest region, the one
whose centre is farthest from any correct pixel: a click there removes the most error a single
click can fix, and it never lands on the thin rim along a boundary that a mask's resolution
cannot settle. The first click is the same rule on an empty prediction: the point of the object
farthest from its boundary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import cv2
import numpy as np

from samhq_train.settings import int_at_least, is_int, is_number, known_keys, require


@dataclass(frozen=True)
class Click:
    """One click in the pixel grid of the masks it was placed on: column x, row y."""

    x: int
    y: int
    positive: bool
    depth: float  # distance to the nearest pixel outside its error region (> 0)


def deepest_point(region: np.ndarray) -> tuple[float, int, int]:
    """(depth, y, x) of the pixel of a bool H x W region farthest from every pixel outside it
    (the border counts as outside); (0.0, -1, -1) for an empty region.

    The distance transform runs on the region's bounding box padded by one zero pixel: the
    nearest outside pixel of any region pixel lies within that frame, so the depths (and the
    row-major first maximum) equal those of the whole image, at the cost of the box only."""
    rows = np.flatnonzero(region.any(axis=1))
    if rows.size == 0:
        return 0.0, -1, -1
    cols = np.flatnonzero(region.any(axis=0))
    y0, y1, x0, x1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    framed = np.pad(region[y0:y1, x0:x1].astype(np.uint8), 1)
    depth = cv2.distanceTransform(framed, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return float(depth[y, x]), int(y + y0), int(x + x0)


def next_click(gt: np.ndarray, pred: np.ndarray) -> Click | None:
    """The next click on bool H x W masks (the module docstring's rule); None when the prediction
    equals the GT (nothing left to correct). With an all-False `pred`, the first click."""
    if gt.shape != pred.shape:
        raise ValueError(f"GT of shape {gt.shape} and prediction of shape {pred.shape} differ")
    missed_depth, my, mx = deepest_point(gt & ~pred)
    false_depth, fy, fx = deepest_point(pred & ~gt)
    if missed_depth == 0.0 and false_depth == 0.0:
        return None
    if missed_depth > false_depth:
        return Click(x=mx, y=my, positive=True, depth=missed_depth)
    return Click(x=fx, y=fy, positive=False, depth=false_depth)


@dataclass(frozen=True)
class ClickProtocol:
    """Click-based evaluation (the config's ``clicks.*``, evaluation/clicks.py runs it).

    enabled: run it (scripts/evaluate.py ``clicks.enabled=true``); max: clicks per object (the
    standard 20); noc_ious: the IoU targets of NoC@k (in percent: 85, 90, 95); report_after: the
    click counts after which mIoU and mBIoU are reported. An image stops once it is past every
    NoC target and every report count (its later clicks would change no figure)."""

    enabled: bool = False
    max: int = 20
    noc_ious: Sequence[int] = (85, 90, 95)
    report_after: Sequence[int] = (1, 3, 5)

    def __post_init__(self):
        require("clicks.enabled", self.enabled, lambda v: isinstance(v, bool), "true or false")
        int_at_least("clicks.max", self.max, 1)
        require(
            "clicks.noc_ious",
            self.noc_ious,
            # under 1: a fraction (0.85) meant as a percentage, which every click would reach
            lambda v: _non_empty(v) and all(is_number(p) and 1 <= p <= 100 for p in v),
            "a list of IoU targets in percent, in [1, 100], e.g. [85, 90, 95] (not 0.85)",
        )
        require(
            "clicks.report_after",
            self.report_after,
            lambda v: _non_empty(v) and all(is_int(n) and 1 <= n <= self.max for n in v),
            f"a list of click counts between 1 and clicks.max={self.max}, e.g. [1, 3, 5]",
        )
        # lists from the config become tuples: the record stays hashable and immutable
        object.__setattr__(self, "noc_ious", tuple(self.noc_ious))
        object.__setattr__(self, "report_after", tuple(self.report_after))

    @classmethod
    def from_mapping(cls, values: Mapping | None) -> ClickProtocol:
        """The record of the config's ``clicks`` mapping; unknown keys are refused by name."""
        values = dict(values or {})
        known_keys("clicks", list(values), list(cls.__dataclass_fields__))
        return cls(**values)

    def to_dict(self) -> dict:
        out = asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}


def _non_empty(value) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str) and len(value) > 0


__all__ = ["Click", "ClickProtocol", "deepest_point", "next_click"]
