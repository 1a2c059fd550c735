"""Helpers for the data tests: small on-disk pairs, COCO jsons and configs."""

import json
from pathlib import Path

import cv2
import numpy as np


def write_pair(
    image_dir: Path,
    mask_dir: Path,
    stem: str,
    image: np.ndarray,
    mask: np.ndarray,
    image_ext: str = ".jpg",
    mask_name: str | None = None,
) -> tuple[Path, Path]:
    image_dir.mkdir(parents=True, exist_ok=True)
    mask_dir.mkdir(parents=True, exist_ok=True)
    image_path = image_dir / f"{stem}{image_ext}"
    mask_path = mask_dir / (mask_name or f"{stem}.png")
    cv2.imwrite(str(image_path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(mask_path), mask)
    return image_path, mask_path


def blob(h: int = 48, w: int = 64, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A random image and an ellipse mask (0/255)."""
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.uint8)
    centre = (int(rng.integers(w // 3, 2 * w // 3)), int(rng.integers(h // 3, 2 * h // 3)))
    cv2.ellipse(mask, centre, (w // 5, h // 6), float(rng.uniform(0, 180)), 0, 360, 255, -1)
    return image, mask


def demo_config(root: Path, **overrides) -> dict:
    """A plain-dict data config over the small demo set."""
    cfg = {
        "root": str(root),
        "train_sets": [
            {"name": "demo-train", "image_dir": "train/images", "mask_dir": "train/masks"}
        ],
        "val_sets": [{"name": "demo-val", "image_dir": "val/images", "mask_dir": "val/masks"}],
        "batch_size": 2,
        "val_batch_size": 2,
        "num_workers": 0,
    }
    cfg.update(overrides)
    return cfg


def coco_json(path: Path, image_name: str, h: int, w: int, anns: list[dict]) -> Path:
    for i, a in enumerate(anns, start=1):
        a.setdefault("id", i)
        a.setdefault("image_id", 1)
        a.setdefault("category_id", 1)
        a.setdefault("iscrowd", 0)
    data = {
        "images": [{"id": 1, "file_name": image_name, "height": h, "width": w}],
        "annotations": anns,
        "categories": [{"id": 1, "name": "thing"}],
    }
    path.write_text(json.dumps(data))
    return path
