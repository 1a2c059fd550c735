"""LVIS's federated AP (lvis_eval.py; audit 14): the per-image detection limit keeps exactly
max_detections of each image, its highest scores, ties in the given order; an IoU equal to the
threshold matches."""

import pytest
from pycocotools.coco import COCO

from samhq_train.evaluation.coco import load_coco
from samhq_train.evaluation.lvis_eval import federated_ap, top_per_image


def test_each_image_keeps_exactly_its_highest_scores():
    """Mutants: one detection fewer than the limit kept; the lowest scores kept."""
    scores = [0.1, 0.9, 0.5, 0.7, 0.5, 0.3, 0.8, 0.2, 0.6, 0.4]
    results = [{"image_id": 1, "category_id": k, "score": s} for k, s in enumerate(scores)]
    results.append({"image_id": 2, "category_id": 0, "score": 0.05})
    kept = top_per_image(results, 7)
    assert [(r["image_id"], r["category_id"]) for r in kept] == [
        (1, 1), (1, 6), (1, 3), (1, 8), (1, 2), (1, 4), (1, 9), (2, 0)]  # 0.5 twice: json order
    assert len(top_per_image(results, 10)) == 11  # at the limit: all kept


def one_image_gt(*boxes) -> COCO:
    """An LVIS GT of one 64 x 64 image: each [x, y, w, h] an instance of category 1."""
    return load_coco({
        "images": [{"id": 1, "height": 64, "width": 64, "neg_category_ids": [],
                    "not_exhaustive_category_ids": []}],
        "annotations": [{"id": k + 1, "image_id": 1, "category_id": 1, "bbox": list(b),
                         "area": float(b[2] * b[3]), "iscrowd": 0, "segmentation": []}
                        for k, b in enumerate(boxes)],
        "categories": [{"id": 1, "name": "thing", "frequency": "f"}]})


def test_an_iou_equal_to_the_threshold_matches():
    """Mutant: a match needing an IoU above the threshold (COCO's and lvis-api's rule: at least
    the threshold; IoU 0.5 exactly is found at AP50)."""
    found = [{"image_id": 1, "category_id": 1, "score": 0.9, "bbox": [0, 0, 10, 5]}]
    figures = federated_ap(one_image_gt([0, 0, 10, 10]), found, "bbox")
    assert figures["AP50"] == pytest.approx(1) and figures["AP75"] == 0


def test_a_gt_of_the_bounding_area_counts_in_both_sizes():
    """Mutant: a GT whose area is a size range's upper bound left out of that range (lvis-api
    ignores a GT only outside [lo, hi]: a 32 x 32 GT counts for APs and APm)."""
    found = [{"image_id": 1, "category_id": 1, "score": 0.9, "bbox": [4, 4, 32, 32]}]
    figures = federated_ap(one_image_gt([4, 4, 32, 32]), found, "bbox")
    assert [figures[n] for n in ("APs", "APm", "AP")] == pytest.approx([1, 1, 1])


def test_detections_take_their_gt_in_score_order_whatever_the_results_order():
    """Mutant: an image x category's detections matched in the order of the results (the
    later, higher-scoring detection takes the GT at IoU 0.5 in lvis-api)."""
    found = [{"image_id": 1, "category_id": 1, "score": 0.5, "bbox": [0, 0, 10, 10]},
             {"image_id": 1, "category_id": 1, "score": 0.9, "bbox": [0, 0, 10, 6]}]
    figures = federated_ap(one_image_gt([0, 0, 10, 10]), found, "bbox")
    assert figures["AP50"] == pytest.approx(1)
