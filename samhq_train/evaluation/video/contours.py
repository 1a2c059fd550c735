"""Object boundaries for the contour accuracy F of video object segmentation (DAVIS).

The DAVIS boundary of a mask is one pixel thick, offset half a pixel towards the origin: a pixel
is on it when it differs from its east, south or south-east neighbour, the image edge repeating
the last row and column (so the last row compares only eastwards, the last column only
southwards, the bottom-right pixel never). A boundary pixel matches when a boundary pixel of the
other mask lies within a disk of radius ceil(0.008 * image diagonal) (0.008: the DAVIS
tolerance), the disk holding the offsets (dy, dx) with dy^2 + dx^2 <= radius^2.
The dilation by that disk is done row by row of the disk: each row dy is a horizontal run of
half-width floor(sqrt(radius^2 - dy^2)) (the runs grown one pixel at a time), shifted by dy.
"""

from __future__ import annotations

import math

import numpy as np

BOUNDARY_TOLERANCE = 0.008  # the DAVIS tolerance: a fraction of the image diagonal


def boundary_map(mask: np.ndarray) -> np.ndarray:
    """The DAVIS boundary (bool, same shape) of a 2-D mask (any dtype: nonzero is inside)."""
    inside = np.asarray(mask).astype(bool)
    if inside.ndim != 2:
        raise ValueError(f"boundary_map takes a 2-D mask, got shape {inside.shape}")
    grown = np.pad(inside, ((0, 1), (0, 1)), mode="edge")
    east, south, south_east = grown[:-1, 1:], grown[1:, :-1], grown[1:, 1:]
    return (inside != east) | (inside != south) | (inside != south_east)


def boundary_radius(height: int, width: int, tolerance: float = BOUNDARY_TOLERANCE) -> int:
    """The match radius in pixels: the tolerance times the image diagonal, rounded up."""
    return math.ceil(tolerance * math.sqrt(height * height + width * width))


def disk_half_widths(radius: int) -> list[int]:
    """Half-width of each row dy = -radius..radius of the disk dy^2 + dx^2 <= radius^2."""
    return [math.isqrt(radius * radius - dy * dy) for dy in range(-radius, radius + 1)]


def disk(radius: int) -> np.ndarray:
    """The disk footprint (uint8, 2 * radius + 1 square) that dilate uses."""
    size = 2 * radius + 1
    footprint = np.zeros((size, size), np.uint8)
    for row, half in enumerate(disk_half_widths(radius)):
        footprint[row, radius - half : radius + half + 1] = 1
    return footprint


def _row_dilations(bmap: np.ndarray, radius: int) -> list[np.ndarray]:
    """[bmap dilated along its rows by half-width w for w = 0..radius], each from the last."""
    runs = [bmap]
    for half in range(1, radius + 1):
        run = runs[-1].copy()
        run[:, half:] |= bmap[:, :-half]
        run[:, :-half] |= bmap[:, half:]
        runs.append(run)
    return runs


def dilate(bmap: np.ndarray, radius: int) -> np.ndarray:
    """bmap (2-D, nonzero = set) dilated by disk(radius); pixels outside the image are unset.
    Only the box around the set pixels (plus the radius) is computed."""
    bmap = np.asarray(bmap).astype(bool)
    out = np.zeros_like(bmap)
    rows, cols = np.flatnonzero(bmap.any(axis=1)), np.flatnonzero(bmap.any(axis=0))
    if rows.size == 0:
        return out
    height, width = bmap.shape
    y0, y1 = max(rows[0] - radius, 0), min(rows[-1] + radius + 1, height)
    x0, x1 = max(cols[0] - radius, 0), min(cols[-1] + radius + 1, width)
    grown = out[y0:y1, x0:x1]
    runs = _row_dilations(bmap[y0:y1, x0:x1], radius)
    h = y1 - y0
    for dy, half in zip(range(-radius, radius + 1), disk_half_widths(radius)):
        if abs(dy) >= h:
            continue
        row = runs[half]  # out[y] |= row[y + dy]
        if dy >= 0:
            grown[: h - dy] |= row[dy:]
        else:
            grown[-dy:] |= row[: h + dy]
    return out


__all__ = [
    "BOUNDARY_TOLERANCE", "boundary_map", "boundary_radius", "dilate", "disk", "disk_half_widths",
]
