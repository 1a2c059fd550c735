"""Synthetic videos of moving shapes, in the DAVIS layout that VideoClipDataset reads, for tests
and the video fine-tuning demo.

write_moving_shapes(root, ...) writes JPEGImages/<seq>/00000.jpg, ... and Annotations/<seq>/
00000.png (indexed: pixel value = object id): on a smooth random background, each object (a
filled ellipse, rectangle or ring in its own colour) moves at a constant velocity, bouncing off
the borders, and the later ids are drawn over the earlier ones. The same arguments give the same
files.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from .write_once import Generated, write_once

MARKER = ".shapes.json"
VIDEO_DEMO = Generated(MARKER, "data=video_folder")
PALETTE = [0, 0, 0, 128, 0, 0, 0, 128, 0, 128, 128, 0, 0, 0, 128, 128, 0, 128, 0, 128, 128]
SHAPES = ("ellipse", "rectangle", "ring")


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    low = rng.uniform(30, 220, (4, 4, 3)).astype(np.float32)
    return cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC)


def _draw(canvas: np.ndarray, shape: str, centre, radii, value) -> None:
    c = tuple(int(round(v)) for v in centre)
    r = tuple(int(round(v)) for v in radii)
    if shape == "ellipse":
        cv2.ellipse(canvas, c, r, 0, 0, 360, value, -1)
    elif shape == "rectangle":
        cv2.rectangle(canvas, (c[0] - r[0], c[1] - r[1]), (c[0] + r[0], c[1] + r[1]), value, -1)
    else:
        cv2.ellipse(canvas, c, r, 0, 0, 360, value, max(2, min(r) // 3))


def _objects(rng: np.random.Generator, count: int, size: int) -> list[dict]:
    objects = []
    for _ in range(count):
        radii = rng.uniform(0.08, 0.18, 2) * size
        objects.append({
            "shape": SHAPES[int(rng.integers(len(SHAPES)))],
            "radii": radii,
            "centre": rng.uniform(radii.max(), size - radii.max(), 2),
            "velocity": rng.uniform(-0.04, 0.04, 2) * size,
            "colour": tuple(float(v) for v in rng.uniform(0, 255, 3)),
        })
    return objects


def _step(obj: dict, size: int) -> None:
    centre = obj["centre"] + obj["velocity"]
    for axis in (0, 1):
        lo, hi = obj["radii"][axis], size - obj["radii"][axis]
        if not lo <= centre[axis] <= hi:
            obj["velocity"][axis] *= -1
            centre[axis] = min(max(centre[axis], lo), hi)
    obj["centre"] = centre


def write_moving_shapes(root: str | Path, *, num_videos: int = 4, num_frames: int = 12,
                        size: int = 128, num_objects: int = 2, seed: int = 0) -> Path:
    """Writes the videos under root (see the module docstring); returns root."""
    root = Path(root)
    for v in range(num_videos):
        rng = np.random.default_rng([seed, v])
        name = f"shapes{v:03d}"
        image_dir, mask_dir = root / "JPEGImages" / name, root / "Annotations" / name
        image_dir.mkdir(parents=True, exist_ok=True)
        mask_dir.mkdir(parents=True, exist_ok=True)
        background = _background(rng, size)
        objects = _objects(rng, num_objects, size)
        for t in range(num_frames):
            frame, ids = background.copy(), np.zeros((size, size), np.uint8)
            for index, obj in enumerate(objects, start=1):
                _draw(frame, obj["shape"], obj["centre"], obj["radii"], obj["colour"])
                _draw(ids, obj["shape"], obj["centre"], obj["radii"], index)
                _step(obj, size)
            noise = rng.normal(0, 6, frame.shape)
            rgb = np.clip(frame + noise, 0, 255).astype(np.uint8)
            Image.fromarray(rgb).save(image_dir / f"{t:05d}.jpg", quality=95)
            label = Image.fromarray(ids, mode="P")
            label.putpalette(PALETTE)
            label.save(mask_dir / f"{t:05d}.png")
    return root


def ensure_moving_shapes(root: str | Path, key: str = "data.root", **settings) -> Path:
    """The videos of write_moving_shapes(root, **settings), written once (write_once.write_once:
    a marker records the settings, a root written with others is written again, whole, through
    a temporary folder) into an empty or new root; DataError naming `key` for a root holding
    files the demo did not write (the user's own clips)."""
    root = Path(root).expanduser().resolve()
    write_once(root, settings, lambda folder: write_moving_shapes(folder, **settings), key,
               VIDEO_DEMO)
    return root
