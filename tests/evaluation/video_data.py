"""Synthetic video object segmentation folders for the J&F tests: moving ellipses (several
objects, overlapping), an object that leaves the GT, one that shows in the prediction before the
GT, one only in the prediction, thin lines and rings (where F and J differ most), a frame with an
empty prediction, non-square frames, and predictions that are shifted, grown and noisy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

PALETTE = [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0, 0, 0, 128, 128, 0, 128, 0, 128, 128]


def write_indexed(path: Path, ids: np.ndarray) -> None:
    """An indexed (mode P) PNG whose pixel values are `ids`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(ids.astype(np.uint8))
    image.putpalette(PALETTE + [255] * (768 - len(PALETTE)))
    image.save(path)


def ellipse(shape, cy, cx, ry, rx) -> np.ndarray:
    y, x = np.ogrid[: shape[0], : shape[1]]
    return ((y - cy) / ry) ** 2 + ((x - cx) / rx) ** 2 <= 1


def line(shape, y0, x0, y1, x1) -> np.ndarray:
    """A one-pixel line from (y0, x0) to (y1, x1)."""
    mask = np.zeros(shape, bool)
    n = int(max(abs(y1 - y0), abs(x1 - x0))) + 1
    ys = np.clip(np.round(np.linspace(y0, y1, n)).astype(int), 0, shape[0] - 1)
    xs = np.clip(np.round(np.linspace(x0, x1, n)).astype(int), 0, shape[1] - 1)
    mask[ys, xs] = True
    return mask


def ring(shape, cy, cx, r) -> np.ndarray:
    return ellipse(shape, cy, cx, r, r) & ~ellipse(shape, cy, cx, r - 1.2, r - 1.2)


def gt_objects(shape, t: int, n_frames: int, rng_seed: int) -> dict[int, np.ndarray]:
    """The GT masks of frame t: object id -> mask (later ids drawn on top)."""
    h, w = shape
    rng = np.random.default_rng(rng_seed)
    starts = rng.uniform(0.25, 0.75, (4, 2)) * (h, w)
    speed = rng.uniform(-0.04, 0.04, (4, 2)) * (h, w)
    objects = {}
    for k in range(3):
        cy, cx = starts[k] + t * speed[k]
        objects[k + 1] = ellipse(shape, cy, cx, h * (0.12 + 0.04 * k), w * (0.1 + 0.03 * k))
    if t >= n_frames // 2:  # object 2 leaves the scene
        del objects[2]
    if t >= 2:  # object 4 (a thin ring) enters at frame 2
        objects[4] = ring(shape, h * 0.3 + t, w * 0.6, min(h, w) * 0.15)
    objects[5] = line(shape, 2 + t, 1, h - 3, w - 2 - 2 * t)  # a thin diagonal
    return objects


def paint(shape, objects: dict[int, np.ndarray]) -> np.ndarray:
    ids = np.zeros(shape, np.uint8)
    for obj, mask in objects.items():
        ids[mask] = obj
    return ids


def predicted(shape, gt: dict[int, np.ndarray], t: int, rng) -> np.ndarray:
    """A plausible prediction of frame t: shifted, grown or shrunk, noisy masks; object 4 shows
    from frame 1 (before its GT), id 7 is a false object, frame 3's prediction is empty."""
    if t == 3:
        return np.zeros(shape, np.uint8)
    objects = {}
    for obj, mask in gt.items():
        if obj == 3 and t == 4:
            continue  # missing from this predicted frame
        moved = np.roll(mask, tuple(rng.integers(-2, 3, 2)), axis=(0, 1))
        if obj in (1, 3):
            grow = rng.integers(-1, 2)
            moved = ellipse_grow(moved, int(grow))
        noise = rng.random(shape) < 0.02
        objects[obj] = moved ^ (noise & ellipse_grow(moved, 2))
    if t == 1:
        objects[4] = ring(shape, shape[0] * 0.3, shape[1] * 0.6, min(shape) * 0.15)
    objects[7] = ellipse(shape, shape[0] * 0.8, shape[1] * 0.2, 3, 5)
    return paint(shape, objects)


def ellipse_grow(mask: np.ndarray, steps: int) -> np.ndarray:
    """mask grown (steps > 0) or shrunk (steps < 0) by 4-neighbour steps."""
    out = mask.copy()
    for _ in range(abs(steps)):
        shifted = [np.roll(out, s, axis=a) for a in (0, 1) for s in (-1, 1)]
        out = np.logical_or.reduce([out, *shifted]) if steps > 0 else np.logical_and.reduce(
            [out, *shifted]
        )
    return out


SEQUENCES = {  # name -> (height, width, frames)
    "blobs-wide": (72, 128, 7),
    "blobs-tall": (120, 64, 6),
    "larger": (270, 480, 5),
    "short": (40, 52, 3),
    "davis-480p": (480, 854, 3),  # the DAVIS size: a match radius of 8 pixels
}


def write_dataset(root: Path, sequences=SEQUENCES, seed: int = 0) -> tuple[Path, Path]:
    """(gt root, prediction root) with one folder per sequence, frames 00000.png ..."""
    gt_root, pred_root = root / "gt", root / "pred"
    rng = np.random.default_rng(seed)
    for i, (name, (h, w, n)) in enumerate(sequences.items()):
        for t in range(n):
            objects = gt_objects((h, w), t, n, rng_seed=seed + i)
            write_indexed(gt_root / name / f"{t:05d}.png", paint((h, w), objects))
            write_indexed(pred_root / name / f"{t:05d}.png", predicted((h, w), objects, t, rng))
    return gt_root, pred_root


def write_davis_root(root: Path, sequences=SEQUENCES, split=None) -> tuple[Path, Path]:
    """(DAVIS root: Annotations/480p/<sequence>/ and ImageSets/2017/val.txt listing `split`, or
    every sequence; prediction root)."""
    gt, pred = write_dataset(root, sequences)
    davis = root / "DAVIS"
    (davis / "Annotations").mkdir(parents=True)
    gt.rename(davis / "Annotations" / "480p")
    (davis / "ImageSets" / "2017").mkdir(parents=True)
    names = list(sequences) if split is None else split
    (davis / "ImageSets" / "2017" / "val.txt").write_text("".join(f"{n}\n" for n in names))
    return davis, pred
