import json
import math

import numpy as np
import pytest
import torch
from pycocotools.cocoeval import COCOeval

from samhq_train.evaluation.coco import (
    BoundaryCOCOeval,
    decode_mask,
    encode_mask,
    evaluate_coco,
    load_coco,
    load_detections,
    to_coco_results,
    write_results_json,
)
from samhq_train.evaluation.metrics import boundary_iou, mask_iou


def square(h, w, rows, cols):
    m = np.zeros((h, w), bool)
    m[rows[0] : rows[1], cols[0] : cols[1]] = True
    return m


def gt_ann(ann_id, image_id, mask, iscrowd=0):
    return {
        "id": ann_id,
        "image_id": image_id,
        "category_id": 1,
        "segmentation": encode_mask(mask),
        "area": int(mask.sum()),
        "bbox": [0, 0, 1, 1],
        "iscrowd": iscrowd,
    }


# Two 20 x 20 images (boundary width d = max(1, round(0.02 * 28.3)) = 1).
A = square(20, 20, (2, 8), (2, 8))  # 6 x 6
B = square(20, 20, (10, 18), (10, 18))  # 8 x 8
CROWD = square(20, 20, (2, 16), (2, 16))
HAND_GT = {
    "images": [{"id": 1, "height": 20, "width": 20}, {"id": 2, "height": 20, "width": 20}],
    "categories": [{"id": 1, "name": "thing"}],
    "annotations": [gt_ann(1, 1, A), gt_ann(2, 1, B), gt_ann(3, 2, CROWD, iscrowd=1)],
}
HAND_PREDICTIONS = [
    # false positive, highest score
    {
        "image_id": 1,
        "category_id": 1,
        "score": 0.95,
        "segmentation": square(20, 20, (12, 16), (1, 5)),
    },
    {"image_id": 1, "category_id": 1, "score": 0.9, "segmentation": A},  # exact: IoU 1, BIoU 1
    # B shifted right by 1 px: mask IoU 56/72 = 0.778; boundary rings of 28 px share the
    # top and bottom rows' 7 px each: BIoU = 14 / (28 + 28 - 14) = 1/3
    {"image_id": 1, "category_id": 1, "score": 0.8, "segmentation": np.roll(B, 1, axis=1)},
    # inside the crowd region: crowd IoU = |P & crowd| / |P| = 1 -> ignored, not a false
    # positive (its boundary IoU with the crowd would be 0: crowd pairs keep the mask IoU)
    {
        "image_id": 2,
        "category_id": 1,
        "score": 0.99,
        "segmentation": square(20, 20, (4, 10), (4, 10)),
    },
]
# Ranked predictions on image 1: FP, A, B. With B matched: precision 0, 1/2, 2/3 at recall 0,
# 1/2, 1; interpolated 2/3 at all 101 recall points -> AP 2/3. With B unmatched: precision
# 1/2 up to recall 1/2 (51 recall points of 101), 0 beyond -> AP 0.5 * 51 / 101.
AP_MATCHED = 2 / 3
AP_UNMATCHED = 0.5 * 51 / 101


def test_hand_made_set_by_hand():
    out = evaluate_coco(HAND_GT, HAND_PREDICTIONS)
    # mask: B is matched at IoU thresholds 0.50 ... 0.75 (6 of 10), missed at 0.80 ... 0.95
    assert out["mask_AP"] == pytest.approx((6 * AP_MATCHED + 4 * AP_UNMATCHED) / 10)
    assert out["mask_AP50"] == pytest.approx(AP_MATCHED)
    assert out["mask_AP75"] == pytest.approx(AP_MATCHED)
    # boundary: min(0.778, 1/3) = 1/3 misses every threshold
    assert out["boundary_AP"] == pytest.approx(AP_UNMATCHED)
    assert out["boundary_AP50"] == pytest.approx(AP_UNMATCHED)
    assert out["boundary_AP75"] == pytest.approx(AP_UNMATCHED)
    # every object is small (< 32^2 px): no medium / large GT
    assert out["boundary_APs"] == pytest.approx(out["boundary_AP"])
    assert math.isnan(out["mask_APm"]) and math.isnan(out["boundary_APl"])


def test_boundary_ious_are_min_of_mask_and_boundary_iou():
    coco_gt = load_coco(HAND_GT)
    coco_dt = coco_gt.loadRes(to_coco_results(HAND_PREDICTIONS, coco_gt))
    ev = BoundaryCOCOeval(coco_gt, coco_dt)
    ev.evaluate()
    ious = ev.ious[1, 1]  # image 1, category 1: predictions by score x GT
    preds = torch.from_numpy(np.stack([p["segmentation"] for p in HAND_PREDICTIONS[:3]]))
    for j, g in enumerate((A, B)):
        gts = torch.from_numpy(np.stack([g] * 3))
        expected = torch.minimum(mask_iou(preds, gts), boundary_iou(preds, gts))
        np.testing.assert_allclose(ious[:, j], expected.numpy(), rtol=1e-6)
    np.testing.assert_allclose(ious[2, 1], 1 / 3, rtol=1e-6)
    assert ev.ious[2, 1][0, 0] == 1.0  # the crowd pair keeps the crowd mask IoU


def test_a_crowd_region_beside_an_object_keeps_the_objects_boundary_iou():
    crowd = square(20, 20, (1, 9), (1, 12))
    gt = {
        "images": [{"id": 1, "height": 20, "width": 20}],
        "categories": [{"id": 1, "name": "thing"}],
        "annotations": [gt_ann(1, 1, B), gt_ann(2, 1, crowd, iscrowd=1)],
    }
    shifted = np.roll(B, 1, axis=1)
    inside = square(20, 20, (2, 6), (2, 6))
    preds = [
        {"image_id": 1, "category_id": 1, "score": 0.8, "segmentation": shifted},
        {"image_id": 1, "category_id": 1, "score": 0.7, "segmentation": inside},
    ]
    coco_gt = load_coco(gt)
    ev = BoundaryCOCOeval(coco_gt, coco_gt.loadRes(to_coco_results(preds, coco_gt)))
    ev.evaluate()
    ious = ev.ious[1, 1]  # predictions by score x GT in the json's order
    np.testing.assert_allclose(ious[:, 0], [1 / 3, 0.0], atol=1e-6)  # min(mask, boundary IoU)
    np.testing.assert_allclose(ious[:, 1], [0.0, 1.0], atol=1e-6)  # crowd: |P & crowd| / |P|


def random_set(seed, n_images=4):
    rng = np.random.default_rng(seed)
    images, anns, preds = [], [], []
    yy, xx = np.mgrid[:60, :80]
    for image_id in range(1, n_images + 1):
        images.append({"id": image_id, "height": 60, "width": 80})
        for _ in range(3):
            cy, cx, r = rng.integers(10, 50), rng.integers(10, 70), rng.integers(4, 12)
            cat = int(rng.integers(1, 3))
            gt = np.hypot(yy - cy, xx - cx) < r
            ann = gt_ann(len(anns) + 1, image_id, gt)
            ann["category_id"] = cat
            anns.append(ann)
            for _ in range(2):
                dy, dx, dr = rng.integers(-3, 4), rng.integers(-3, 4), rng.integers(-2, 3)
                pred = np.hypot(yy - cy - dy, xx - cx - dx) < r + dr
                preds.append(
                    {
                        "image_id": image_id,
                        "category_id": cat,
                        "score": float(rng.random()),
                        "segmentation": torch.from_numpy(pred),
                    }
                )
    gt = {"images": images, "categories": [{"id": 1}, {"id": 2}], "annotations": anns}
    return gt, preds


def test_mask_ap_equals_plain_cocoeval(capsys):
    gt, preds = random_set(0)
    out = evaluate_coco(gt, preds)
    coco_gt = load_coco(gt)
    plain = COCOeval(coco_gt, coco_gt.loadRes(to_coco_results(preds, coco_gt)), iouType="segm")
    plain.evaluate()
    plain.accumulate()
    plain.summarize()
    names = ["AP", "AP50", "AP75", "APs", "APm", "APl"]
    for name, value in zip(names, plain.stats[:6]):
        assert out[f"mask_{name}"] == pytest.approx(value, nan_ok=True) or (
            value == -1 and math.isnan(out[f"mask_{name}"])
        )
    assert 0 < out["boundary_AP"] < out["mask_AP"]


def test_boundary_ap_equals_mask_ap_when_the_boundary_is_the_whole_mask():
    gt, preds = random_set(1)
    out = evaluate_coco(gt, preds, dilation_ratio=0.5)  # d = 50 px: every mask is all boundary
    assert out["boundary_AP"] == pytest.approx(out["mask_AP"])


def test_no_predictions_give_zero_ap():
    out = evaluate_coco(HAND_GT, [])
    assert out["mask_AP"] == 0.0 and out["boundary_AP"] == 0.0


def test_rle_round_trip_and_results_json(tmp_path):
    mask = np.random.default_rng(0).random((13, 17)) < 0.3
    rle = encode_mask(torch.from_numpy(mask))
    assert isinstance(rle["counts"], str) and rle["size"] == [13, 17]
    np.testing.assert_array_equal(decode_mask(rle), mask)
    results = to_coco_results(HAND_PREDICTIONS, load_coco(HAND_GT))
    write_results_json(results, tmp_path / "res.json")
    loaded = json.loads((tmp_path / "res.json").read_text())
    assert evaluate_coco(HAND_GT, loaded) == pytest.approx(
        evaluate_coco(HAND_GT, HAND_PREDICTIONS), nan_ok=True
    )


def test_prediction_size_mismatch_is_an_error():
    bad = [{"image_id": 2, "category_id": 1, "score": 1.0, "segmentation": np.ones((20, 21), bool)}]
    with pytest.raises(ValueError, match=r"image 2.*\(20, 21\).*\(20, 20\)"):
        evaluate_coco(HAND_GT, bad)


def test_load_detections(tmp_path):
    dets = [
        {"image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": 0.2},
        {"image_id": 1, "category_id": 1, "bbox": [5, 5, 2, 2], "score": 0.7},
        {"image_id": 2, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.5},
    ]
    path = tmp_path / "dets.json"
    path.write_text(json.dumps(dets))
    by_image = load_detections(path, HAND_GT)
    assert [d["score"] for d in by_image[1]] == [0.7, 0.2]
    assert by_image[1][1]["box_xyxy"] == [1.0, 2.0, 4.0, 6.0]
    assert list(by_image) == [1, 2]

    path.write_text(
        json.dumps(dets + [{"image_id": 99, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 0.1}])
    )
    with pytest.raises(ValueError, match=r"dets\.json.*not in the GT json.*\[99\]"):
        load_detections(path, HAND_GT)
    with pytest.raises(ValueError, match="category"):
        load_detections([dict(dets[0], category_id=7)], HAND_GT)
    with pytest.raises(ValueError, match="lacks"):
        load_detections([{"image_id": 1, "bbox": [0, 0, 1, 1]}], HAND_GT)
