"""Coarse labels from fine masks, the way SA-1B-style annotation simplifies an object.

``coarsen_mask`` turns a fine 0/255 mask into what a fast polygon annotator would draw: gaps
narrower than ``close_px`` are bridged (morphological closing with an ellipse: concentric thin
rings become one band, nearby branches merge, the spokes near a hub become a wedge), holes
smaller than ``max_hole_fraction`` of the image are filled, specks under ``min_area_px`` are
dropped, and every outline is replaced by a polygon within ``polygon_eps_px`` of it
(``cv2.approxPolyDP``). Large holes (the inside of a ring or a wheel rim) stay open, so the coarse
mask is still the object, only without its fine detail. The demo base (scripts/make_demo_base.py)
is trained on these; the demo then trains the HQ parts on the fine masks.
"""

from __future__ import annotations

import cv2
import numpy as np

from samhq_train.constants import GT_THRESHOLD


def coarsen_mask(
    mask: np.ndarray,
    *,
    close_px: int = 15,
    max_hole_fraction: float = 0.01,
    min_area_px: int = 32,
    polygon_eps_px: float = 2.0,
) -> np.ndarray:
    """H x W mask (uint8/float, object > 128, or bool) -> H x W uint8 coarse mask, 0 / 255."""
    m = (mask if mask.dtype == bool else mask > GT_THRESHOLD).astype(np.uint8)
    h, w = m.shape
    if close_px > 1:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (close_px, close_px))
        # pad so that closing does not glue the object to the image border
        pad = close_px
        m = cv2.morphologyEx(
            cv2.copyMakeBorder(m, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0),
            cv2.MORPH_CLOSE,
            kernel,
        )[pad:-pad, pad:-pad]
    # fill small holes: background components that do not touch the border
    n, labels, stats, _ = cv2.connectedComponentsWithStats(1 - m, connectivity=4)
    for k in range(1, n):
        x, y, bw, bh, area = stats[k]
        inside = x > 0 and y > 0 and x + bw < w and y + bh < h
        if inside and area < max_hole_fraction * h * w:
            m[labels == k] = 1
    # drop specks
    n, labels, stats, _ = cv2.connectedComponentsWithStats(m, connectivity=8)
    for k in range(1, n):
        if stats[k, cv2.CC_STAT_AREA] < min_area_px:
            m[labels == k] = 0
    contours, hierarchy = cv2.findContours(m, cv2.RETR_TREE, cv2.CHAIN_APPROX_NONE)
    out = np.zeros_like(m)
    if contours:
        polygons = [
            cv2.approxPolyDP(c, polygon_eps_px, True) if polygon_eps_px > 0 else c for c in contours
        ]
        cv2.drawContours(out, polygons, -1, 1, thickness=cv2.FILLED, hierarchy=hierarchy)
    return out * np.uint8(255)
