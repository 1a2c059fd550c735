"""The synthetic LVIS v1 set of the LVIS AP tests (tests/evaluation/test_lvis_eval.py,
test_lvis_boxes.py): 4 images, 5 categories of each frequency, negatives, not exhaustively
labelled categories, polygon and RLE GT; detections of verified and unverified categories with
tied scores; and the tolerance the figures are compared with (1e-12)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from samhq_train.evaluation.coco import encode_mask
from samhq_train.evaluation.lvis_eval import LVIS_AP_NAMES

SIZES = {1: (40, 50), 2: (60, 44), 4: (50, 50), 9: (120, 130)}  # image id: (height, width)
FREQUENCY = {1: "r", 2: "c", 3: "f", 4: "f", 5: "r"}
NEGATIVES = {1: [3, 5], 2: [1], 4: [2, 4], 9: [5]}
NOT_EXHAUSTIVE = {1: [1], 2: [], 4: [3], 9: [4]}
# (image, category, x, y, w, h, as a polygon): the GT rectangles (category 5: negatives only; a
# small GT inside a medium one of its category, listed first: APm prefers the medium one)
GT_BOXES = [(1, 1, 3, 4, 20, 15, True), (1, 1, 25, 20, 12, 12, False), (1, 2, 5, 22, 30, 10, False),
            (2, 2, 2, 3, 30, 40, True), (2, 3, 10, 45, 20, 12, False), (4, 1, 0, 0, 49, 49, False),
            (4, 3, 8, 8, 6, 6, True), (9, 4, 5, 5, 110, 100, False), (9, 3, 62, 72, 30, 25, False),
            (9, 3, 60, 70, 40, 30, True),
            (9, 1, 3, 90, 25, 25, False)]


def rectangle(size, x, y, w, h) -> np.ndarray:
    mask = np.zeros(size, bool)
    mask[y : y + h, x : x + w] = True
    return mask


def lvis_gt() -> dict:
    images = [{"id": i, "height": h, "width": w, "neg_category_ids": NEGATIVES[i],
               "not_exhaustive_category_ids": NOT_EXHAUSTIVE[i],
               "coco_url": f"http://images.cocodataset.org/val2017/{i:012d}.jpg"}
              for i, (h, w) in SIZES.items()]
    annotations = []
    for image_id, category_id, x, y, w, h, polygon in GT_BOXES:
        segmentation = ([[x, y, x + w, y, x + w, y + h, x, y + h]] if polygon
                        else encode_mask(rectangle(SIZES[image_id], x, y, w, h)))
        annotations.append({"id": len(annotations) + 1, "image_id": image_id,
                            "category_id": category_id, "bbox": [x, y, w, h], "area": w * h,
                            "segmentation": segmentation, "iscrowd": 0})  # iscrowd: COCOeval's
    categories = [{"id": c, "name": f"thing {c}", "frequency": f} for c, f in FREQUENCY.items()]
    return {"images": images, "annotations": annotations, "categories": categories}


def detections(seed: int = 0, holes: float = 0.05, jitter: int = 3) -> dict[str, list]:
    """{"segm": [...], "bbox": [...]}: per image and category (verified or not), copies of its
    GT and of other categories' GT moved by up to jitter px, and random rectangles (masks with
    that fraction of pixels left out); scores on a coarse grid (ties)."""
    rng = np.random.RandomState(seed)
    out = {"segm": [], "bbox": []}
    for image_id, (h, w) in SIZES.items():
        boxes = [b[2:6] for b in GT_BOXES if b[0] == image_id]
        for category_id in FREQUENCY:
            for _ in range(rng.randint(2, 7)):
                if rng.rand() < 0.6:
                    x, y, bw, bh = boxes[rng.randint(len(boxes))]
                    step = (-jitter, jitter + 1)
                    x, y = x + rng.randint(*step), y + rng.randint(*step)
                else:
                    x, y = rng.randint(0, w - 5), rng.randint(0, h - 5)
                    bw, bh = rng.randint(3, w - x + 1), rng.randint(3, h - y + 1)
                x, y = max(x, 0), max(y, 0)
                bw, bh = min(bw, w - x), min(bh, h - y)
                score = round(float(rng.rand()), 1)
                entry = {"image_id": image_id, "category_id": category_id, "score": score}
                out["segm"].append({**entry, "segmentation": encode_mask(
                    rectangle((h, w), x, y, bw, bh) & (rng.rand(h, w) >= holes))})
                out["bbox"].append({**entry, "bbox": [x + rng.rand(), y, bw, bh - rng.rand()]})
    return out


def variants() -> dict[str, dict]:
    """The set as is, with every category exhaustively labelled, and with every category
    verified on every image (each unverified detection then counts)."""
    gt = lvis_gt()
    exhaustive, verified = copy.deepcopy(gt), copy.deepcopy(gt)
    for image in exhaustive["images"]:
        image["not_exhaustive_category_ids"] = []
    for image in verified["images"]:
        present = {a["category_id"] for a in gt["annotations"] if a["image_id"] == image["id"]}
        image["neg_category_ids"] = sorted(set(FREQUENCY) - present)
    return {"as is": gt, "exhaustive": exhaustive, "verified": verified}


def assert_close(ours: dict, reference: dict) -> None:
    assert list(ours) == list(LVIS_AP_NAMES)
    for name in LVIS_AP_NAMES:
        if np.isnan(reference[name]):
            assert np.isnan(ours[name]), name
        else:
            assert ours[name] == pytest.approx(reference[name], abs=1e-12, rel=0), name
