"""``draw_overlay``: the one overlay picture (samhq-predict, the evaluation report, training's
logged validation pictures): masks tinted and outlined in their own colours over the image, the
ground-truth boundary, prompts and numbers, drawn in uint8 in row bands so that its memory stays
bounded. Dependency-free within the project (numpy, OpenCV), beside imaging.py."""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

# Okabe & Ito's colour-blind-safe palette (RGB): mask i and its prompt take PALETTE[i % 7]
PALETTE = np.array(
    [[230, 159, 0], [86, 180, 233], [0, 158, 115], [204, 121, 167], [240, 228, 66],
     [213, 94, 0], [0, 114, 178]],
    np.uint8,
)
GT_EDGE = (0, 114, 178)  # ground-truth boundary: blue, twice as thick as a mask's, under them
POINT_COLORS = {1: (0, 158, 115), 0: (213, 94, 0)}  # foreground: a disc, background: an X
HALO = (0, 0, 0)  # the dark rim around markers, boxes and numbers (readable on any image)
TINT = 0.4  # weight of the tint colour inside a mask
EDGE_RATIO = 0.003  # outline width as a fraction of the picture diagonal (at least 1 px)
BAND_PIXELS = 1 << 22  # pixels per row band of the compositing (bounds its temporary memory)


def _bands(height: int, width: int):
    """(first row, end row) of the row bands that the compositing works through."""
    rows = max(1, BAND_PIXELS // max(1, width))
    return ((r, min(height, r + rows)) for r in range(0, height, rows))


def _tint(picture: np.ndarray, mask: np.ndarray, colour: np.ndarray) -> None:
    """picture (uint8, in place) = (1 - TINT) x picture + TINT x colour inside the mask."""
    for r0, r1 in _bands(*mask.shape):
        inside = mask[r0:r1]
        if inside.any():
            band = picture[r0:r1]
            blended = (1 - TINT) * band[inside].astype(np.float32) + TINT * colour
            band[inside] = (blended + 0.5).astype(np.uint8)  # round half up


def _outline(picture: np.ndarray, mask: np.ndarray, colour, width: int) -> None:
    """Paint the mask's inner boundary band (the mask minus its erosion by `width`; outside the
    picture counts as empty), band by band with `width` rows of context."""
    height = mask.shape[0]
    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    for r0, r1 in _bands(*mask.shape):
        a, b = max(0, r0 - width), min(height, r1 + width)
        slab = np.ascontiguousarray(mask[a:b]).view(np.uint8)
        if not slab.any():
            continue
        eroded = cv2.erode(slab, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
        keep = slice(r0 - a, r1 - a)
        picture[r0:r1][slab[keep].astype(bool) & (eroded[keep] == 0)] = colour


def _number(picture: np.ndarray, text: str, corner: tuple[int, int], colour, scale: float):
    """A number on a filled tag in the mask's colour, its top-left at `corner` (kept inside)."""
    font, thick = cv2.FONT_HERSHEY_SIMPLEX, max(1, round(2 * scale))
    (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    pad = max(2, round(3 * scale))
    h, w = picture.shape[:2]
    x = int(np.clip(corner[0], 0, max(0, w - tw - 2 * pad)))
    y = int(np.clip(corner[1], 0, max(0, h - th - base - 2 * pad)))
    x1, y1 = x + tw + 2 * pad, y + th + base + 2 * pad
    cv2.rectangle(picture, (x, y), (x1, y1), tuple(int(c) for c in colour), -1)
    cv2.rectangle(picture, (x, y), (x1, y1), HALO, max(1, thick // 2))
    cv2.putText(picture, text, (x + pad, y + pad + th), font, scale, HALO, thick, cv2.LINE_AA)


def _draw_point(picture: np.ndarray, x: float, y: float, label: int, size: int) -> None:
    """Foreground: a filled disc; background: an X (told apart by shape, not only colour)."""
    centre, colour = (round(x), round(y)), POINT_COLORS[int(label == 1)]
    if label == 1:
        cv2.circle(picture, centre, size + 2, HALO, -1, cv2.LINE_AA)
        cv2.circle(picture, centre, size, colour, -1, cv2.LINE_AA)
    else:
        marker = cv2.MARKER_TILTED_CROSS
        cv2.drawMarker(picture, centre, HALO, marker, 2 * size + 4, max(3, size // 2 + 3))
        cv2.drawMarker(picture, centre, colour, marker, 2 * size, max(1, size // 2))


def _anchor(mask: np.ndarray) -> tuple[int, int]:
    """Top-left corner of a mask's bounding box ((0, 0) when empty)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return (int(cols[0]), int(rows[0])) if rows.size else (0, 0)


def _as_picture(image: np.ndarray, size: tuple[int, int], in_place: bool) -> np.ndarray:
    """The image as an H x W x 3 uint8 picture of `size` (resized bilinearly when it differs;
    the image itself when in_place and already uint8 of that size)."""
    picture = np.asarray(image)
    if picture.dtype != np.uint8:
        picture = np.clip(picture + 0.5, 0, 255).astype(np.uint8)
    if picture.shape[:2] != tuple(size):
        return cv2.resize(picture, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    return picture if in_place and picture is image else picture.copy()


def draw_overlay(
    image: np.ndarray,
    masks: np.ndarray | Sequence[np.ndarray],
    gt: np.ndarray | None = None,
    boxes: np.ndarray | None = None,
    points: np.ndarray | None = None,
    *,
    labels: Sequence | None = None,
    in_place: bool = False,
) -> np.ndarray:
    """H x W x 3 uint8 RGB picture of predicted masks and their prompts on an image.

    image: h x w x 3 RGB (uint8, or 0-255 float), resized bilinearly to the masks' H x W when its
    size differs; with in_place a uint8 image of that size is drawn on and returned (no copy).
    masks: K x H x W bool; mask i is tinted and outlined in PALETTE[i], as is box i (N x 4 xyxy,
    N = K, or one box for all). gt: H x W bool, outlined in blue twice as thick, under the masks'
    outlines. points: N x 3 (x, y, label): a disc for foreground (1), an X for background (0).
    labels: the number drawn on each mask's box (or its top-left corner); default: 0..K-1 when
    K > 1, none for one mask. Coordinates in the masks' pixels. Memory: the picture plus a row
    band (BAND_PIXELS) at a time; masks are read, never copied whole.
    """
    masks = [np.asarray(m, bool) for m in masks]
    size = masks[0].shape if masks else (gt.shape if gt is not None else image.shape[:2])
    picture = _as_picture(image, size, in_place)
    diagonal = math.hypot(*size)
    width = max(1, int(round(EDGE_RATIO * diagonal)))
    for i, mask in enumerate(masks):
        _tint(picture, mask, PALETTE[i % len(PALETTE)].astype(np.float32))
    if gt is not None:
        _outline(picture, np.asarray(gt, bool), GT_EDGE, 2 * width)
    for i, mask in enumerate(masks):
        _outline(picture, mask, tuple(int(c) for c in PALETTE[i % len(PALETTE)]), width)
    boxes = np.zeros((0, 4)) if boxes is None else np.asarray(boxes, np.float64).reshape(-1, 4)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        colour = tuple(int(c) for c in PALETTE[i % len(PALETTE)])
        corners = (round(x0), round(y0)), (round(x1), round(y1))
        cv2.rectangle(picture, *corners, HALO, max(2, width) + 2)
        cv2.rectangle(picture, *corners, colour, max(2, width))
    if labels is None and len(masks) > 1:
        labels = range(len(masks))
    scale = max(0.4, diagonal / 1500)
    for i, label in enumerate([] if labels is None else labels):
        anchor = boxes[i, :2] if i < len(boxes) else _anchor(masks[i])
        _number(picture, str(label), tuple(int(round(v)) for v in anchor),
                PALETTE[i % len(PALETTE)], scale)
    for x, y, label in [] if points is None else np.asarray(points).reshape(-1, 3):
        _draw_point(picture, x, y, int(label), max(4, 2 * width + 2))
    return picture
