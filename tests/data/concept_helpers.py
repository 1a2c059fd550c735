"""A small COCO-format concept dataset on disk for the concept data tests: 5 images (40-120
px; 4 PNG, 1 JPEG), 3 categories listed out of id order; polygons (one in two parts, one degenerate:
an empty mask), compressed and uncompressed RLE, one crowd instance, one instance without a
segmentation, one zero-width box, boxes 0.5 px past the border, one image without
annotations and categories absent from some images."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pycocotools.mask as mask_utils

# (id, file, width, height), listed out of id order
IMAGES = [(3, "c.png", 40, 120), (1, "a.png", 64, 48), (2, "b.png", 100, 80),
          (5, "e.jpg", 72, 72), (4, "d.png", 120, 90)]
CATEGORIES = [{"id": 3, "name": "green bar"}, {"id": 1, "name": "red square"},
              {"id": 2, "name": "blue disc"}]


def _disc_rle(height: int, width: int, cx: int, cy: int, r: int, compressed: bool) -> dict:
    mask = np.zeros((height, width), np.uint8)
    cv2.circle(mask, (cx, cy), r, 1, -1)
    if compressed:
        rle = mask_utils.encode(np.asfortranarray(mask))
        return {"size": [height, width], "counts": rle["counts"].decode("ascii")}
    flat = mask.T.reshape(-1)  # column-major runs, starting with zeros
    changes = np.flatnonzero(np.diff(flat)) + 1
    runs = np.diff(np.concatenate(([0], changes, [flat.size])))
    counts = ([0] if flat[0] else []) + runs.tolist()
    return {"size": [height, width], "counts": [int(c) for c in counts]}


def _annotations() -> list[dict]:
    poly = [[5.0, 5.0, 30.0, 6.0, 28.5, 30.0, 6.0, 27.0]]
    return [
        # image 1 (64 x 48): red squares (one crowd, uncompressed RLE), a blue disc (RLE)
        {"image_id": 1, "category_id": 1, "bbox": [5, 5, 25, 25], "segmentation": poly,
         "iscrowd": 0},
        {"image_id": 1, "category_id": 2, "bbox": [34.5, 10, 20, 20],
         "segmentation": _disc_rle(48, 64, 44, 20, 9, compressed=True), "iscrowd": 0},
        {"image_id": 1, "category_id": 1, "bbox": [0, 30, 64, 18],
         "segmentation": _disc_rle(48, 64, 30, 40, 7, compressed=False), "iscrowd": 1},
        {"image_id": 1, "category_id": 1, "bbox": [40.2, 33.7, 12.3, 10.1],
         "segmentation": [[40.2, 33.7, 52.5, 33.7, 52.5, 43.8, 40.2, 43.8]], "iscrowd": 0},
        # image 2 (100 x 80): no segmentation, a degenerate polygon, a zero-width box
        {"image_id": 2, "category_id": 2, "bbox": [10, 10, 30, 20], "iscrowd": 0},
        {"image_id": 2, "category_id": 3, "bbox": [50.6, 20.2, 30.1, 0.9],
         "segmentation": [[50.6, 20.2, 65.0, 20.2, 80.7, 20.2]], "iscrowd": 0},
        {"image_id": 2, "category_id": 1, "bbox": [60, 40, 20, 30],
         "segmentation": [[60, 40, 80, 40, 80, 70, 60, 70]], "iscrowd": 0},
        {"image_id": 2, "category_id": 3, "bbox": [5, 60, 0, 10], "segmentation": [],
         "iscrowd": 0},
        # image 3 (40 x 120): two blue discs (one 0.5 px left of the border), a green bar
        {"image_id": 3, "category_id": 2, "bbox": [-0.5, 3, 20, 20],
         "segmentation": [[3, 3, 23, 3, 23, 23, 3, 23]], "iscrowd": 0},
        {"image_id": 3, "category_id": 3, "bbox": [10, 40, 8, 70],
         "segmentation": _disc_rle(120, 40, 14, 75, 4, compressed=True), "iscrowd": 0},
        {"image_id": 3, "category_id": 2, "bbox": [15, 90, 20, 25],
         "segmentation": [[15, 90, 35, 90, 35, 115, 15, 115]], "iscrowd": 0},
        # image 5 (72 x 72): a red square in two parts, a blue disc 0.5 px past the border
        {"image_id": 5, "category_id": 1, "bbox": [2, 2, 40, 20],
         "segmentation": [[2, 2, 12, 2, 12, 22, 2, 22], [30, 5, 42, 5, 42, 15, 30, 15]],
         "iscrowd": 0},
        {"image_id": 5, "category_id": 2, "bbox": [50, 50, 22.5, 20],
         "segmentation": _disc_rle(72, 72, 61, 60, 9, compressed=True), "iscrowd": 0},
    ]


def write_concept_set(root: Path, seed: int = 0) -> tuple[Path, Path]:
    """(annotation file, image folder) of the small set under root."""
    image_dir = root / "train"
    image_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images = []
    for image_id, name, width, height in IMAGES:
        pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        cv2.imwrite(str(image_dir / name), pixels)
        images.append({"id": image_id, "file_name": name, "width": width, "height": height})
    annotations = [dict(a, id=10 + i) for i, a in enumerate(_annotations())]
    data = {"images": images, "annotations": annotations, "categories": CATEGORIES}
    annotation_file = image_dir / "_annotations.coco.json"
    annotation_file.write_text(json.dumps(data))
    return annotation_file, image_dir


def edit_json(annotation_file: Path, edit) -> None:
    """Rewrite the json after edit(data) changed it in place."""
    data = json.loads(annotation_file.read_text())
    edit(data)
    annotation_file.write_text(json.dumps(data))
