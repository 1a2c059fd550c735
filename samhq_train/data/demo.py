"""A small deterministic demo dataset (paired-folder layout) with thin structures and holes.

``ensure_demo_data(root)`` writes, once, ``root/{train,val}/{images,masks}/NNNN.{jpg,png}``:
one object per image (rings, thin branching trees, shapes with holes, spoked wheels) on a
textured background with distractors. The same parameters always give the same files; a
``.demo.json`` marker records them, and the data is rebuilt when they change.

``DemoSource`` makes the same samples in memory (no files), optionally with coarse labels
(``coarsen.coarsen_mask``): the demo base (scripts/make_demo_base.py) trains on those.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
from torch.utils.data import Dataset

from .coarsen import coarsen_mask
from .image_files import DataError
from .write_once import write_once, write_picture

log = logging.getLogger(__name__)

VERSION = 1
SPLITS = {"train": 0, "val": 1}
SHAPES = ("rings", "branches", "holes", "wheel")


def textured_background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    c0, c1 = rng.uniform(40, 215, 3), rng.uniform(40, 215, 3)
    t = (xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1)) / (h + w) + 0.5
    img = c0 + (c1 - c0) * t[..., None]
    coarse = rng.normal(0, 25, (h // 16 + 1, w // 16 + 1, 3)).astype(np.float32)
    img += cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    for _ in range(rng.integers(2, 6)):  # distractors: not part of the mask
        colour = tuple(float(v) for v in rng.uniform(0, 255, 3))
        centre = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        axes = (int(rng.integers(4, w // 6)), int(rng.integers(4, h // 6)))
        cv2.ellipse(img, centre, axes, float(rng.uniform(0, 180)), 0, 360, colour, -1, cv2.LINE_AA)
    return img


def _branch(mask, rng, start, angle, length, width, depth):
    end = (start[0] + length * np.cos(angle), start[1] + length * np.sin(angle))
    p0, p1 = tuple(int(round(v)) for v in start), tuple(int(round(v)) for v in end)
    cv2.line(mask, p0, p1, 255, max(1, int(round(width))))
    if depth > 0:
        for _ in range(int(rng.integers(2, 4))):
            _branch(
                mask,
                rng,
                end,
                angle + rng.uniform(-0.9, 0.9),
                length * rng.uniform(0.5, 0.8),
                width * 0.7,
                depth - 1,
            )


def shape_mask(rng: np.random.Generator, shape: str, h: int, w: int) -> np.ndarray:
    mask = np.zeros((h, w), np.uint8)
    cx, cy = int(rng.uniform(0.35, 0.65) * w), int(rng.uniform(0.35, 0.65) * h)
    r = int(rng.uniform(0.22, 0.38) * min(h, w))
    if shape == "rings":
        for k in range(int(rng.integers(1, 4))):
            cv2.circle(mask, (cx, cy), max(3, r - 9 * k), 255, int(rng.integers(1, 5)))
    elif shape == "branches":
        _branch(
            mask,
            rng,
            (cx, h - 1 - int(rng.integers(0, h // 8))),
            -np.pi / 2 + rng.uniform(-0.3, 0.3),
            r * 0.9,
            rng.uniform(3, 6),
            3,
        )
    elif shape == "holes":
        angles = np.sort(rng.uniform(0, 2 * np.pi, 9))
        radii = r * rng.uniform(0.7, 1.1, 9)
        poly = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1)
        cv2.fillPoly(mask, [poly.round().astype(np.int32)], 255)
        for _ in range(int(rng.integers(2, 6))):
            a, d = rng.uniform(0, 2 * np.pi), rng.uniform(0, 0.5) * r
            centre = (int(cx + d * np.cos(a)), int(cy + d * np.sin(a)))
            cv2.circle(mask, centre, int(rng.integers(2, max(3, r // 4))), 0, -1)
    else:  # wheel: rim, hub and thin spokes
        cv2.circle(mask, (cx, cy), r, 255, 3)
        cv2.circle(mask, (cx, cy), max(3, r // 6), 255, -1)
        for a in np.linspace(0, 2 * np.pi, int(rng.integers(5, 13)), endpoint=False):
            cv2.line(mask, (cx, cy), (int(cx + r * np.cos(a)), int(cy + r * np.sin(a))), 255, 1)
    return mask


def make_demo_sample(seed: int, split: str, index: int, height: int, width: int):
    """(image H x W x 3 uint8 RGB, mask H x W uint8 0/255) of one demo sample."""
    rng = np.random.default_rng([seed, SPLITS[split], index])
    img = textured_background(rng, height, width)
    mask = shape_mask(rng, SHAPES[index % len(SHAPES)], height, width)
    img = paint_object(rng, img, mask)
    return noisy_uint8(rng, img), mask


def paint_object(rng: np.random.Generator, img: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """img (H x W x 3 float32) with the object of `mask` (0/255) painted in a random textured
    colour, its edge softened."""
    colour = rng.uniform(0, 255, 3).astype(np.float32)
    texture = rng.normal(0, 12, (*mask.shape, 1)).astype(np.float32)
    alpha = cv2.GaussianBlur(mask.astype(np.float32) / 255, (3, 3), 0.6)[..., None]
    return img * (1 - alpha) + (colour + texture) * alpha


def noisy_uint8(rng: np.random.Generator, img: np.ndarray) -> np.ndarray:
    """The painted float image with sensor noise, as uint8 RGB."""
    img = img + rng.normal(0, 4, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).round().astype(np.uint8)


class DemoSource(Dataset):
    """Demo samples ``make_demo_sample(seed, split, i)``, i < count, made in memory: a source for
    ``PromptedDataset`` (dicts with image, mask, where, name, dataset). ``coarse=True`` gives the
    mask through ``coarsen_mask`` (SA-1B-style coarse labels)."""

    def __init__(
        self,
        seed: int,
        split: str,
        count: int,
        *,
        height: int = 256,
        width: int = 320,
        coarse: bool = False,
        name: str | None = None,
    ):
        self.seed, self.split, self.count = int(seed), split, int(count)
        self.height, self.width, self.coarse = int(height), int(width), bool(coarse)
        self.name = name or f"demo-{split}"

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, i: int) -> dict:
        if not 0 <= i < self.count:
            raise IndexError(i)
        image, mask = make_demo_sample(self.seed, self.split, i, self.height, self.width)
        if self.coarse:
            mask = coarsen_mask(mask)
        where = f"demo sample (seed {self.seed}, {self.split}, {i})"
        return {
            "image": image,
            "mask": mask,
            "where": where,
            "name": f"{i:04d}",
            "dataset": self.name,
        }


DEMO_LEAST = {"num_train": 1, "num_val": 0, "height": 32, "width": 32}  # the generator's limits


def check_generator_settings(settings: dict, least_values: dict) -> None:
    """DataError naming data.demo.<key> for a count or size the generator cannot make."""
    for key, least in least_values.items():
        value = settings[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise DataError(f"data.demo.{key}={value}: expected an integer >= {least}")


def _params(num_train, num_val, height, width, seed) -> dict:
    return {
        "version": VERSION,
        "num_train": int(num_train),
        "num_val": int(num_val),
        "height": int(height),
        "width": int(width),
        "seed": int(seed),
    }


def ensure_demo_data(
    root: str | Path,
    *,
    num_train: int = 64,
    num_val: int = 16,
    height: int = 256,
    width: int = 320,
    seed: int = 0,
) -> Path:
    """Create the demo dataset under ``root`` unless it is already there with these parameters.

    Written to a temporary folder and renamed into place, so concurrent callers (DDP ranks)
    are safe. A non-empty ``root`` that the generator did not write is never touched.
    """
    check_generator_settings(
        dict(num_train=num_train, num_val=num_val, height=height, width=width), DEMO_LEAST
    )
    root = Path(root).expanduser().resolve()
    params = _params(num_train, num_val, height, width, seed)

    def write(folder: Path) -> None:
        for split, count in {"train": num_train, "val": num_val}.items():
            (folder / split / "images").mkdir(parents=True)
            (folder / split / "masks").mkdir(parents=True)
            for i in range(count):
                image, mask = make_demo_sample(seed, split, i, height, width)
                write_picture(
                    folder / split / "images" / f"{i:04d}.jpg",
                    cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                    (cv2.IMWRITE_JPEG_QUALITY, 95),
                )
                write_picture(folder / split / "masks" / f"{i:04d}.png", mask)

    if write_once(root, params, write):
        # a user who meant their own data (data.root without data=folder) learns it here
        log.info(
            "wrote the synthetic demo data (%d train + %d val images) to %s; to train on your "
            "own images give data=folder data.root=/path/to/data (data/README.md)",
            num_train, num_val, root,
        )
    return root
