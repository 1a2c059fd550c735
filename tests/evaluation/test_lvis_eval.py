"""LVIS's federated AP (samhq_train/evaluation/lvis_eval.py) equals lvis-api's LVISEval on a
synthetic LVIS set (4 images, 5 categories of each frequency, negatives, not exhaustively
labelled categories, polygon and RLE GT, detections of verified and unverified categories, tied
scores) for masks and boxes, within 1e-12; each federated rule moves the figures, and they are
not COCOeval's."""

import numpy as np
import pytest
from pycocotools.cocoeval import COCOeval

from samhq_train.evaluation.coco import encode_mask, load_coco
from samhq_train.evaluation.lvis_eval import LVIS_AP_NAMES, federated_ap
from tests.evaluation.lvis_reference import lvis_eval, needs_lvis
from tests.evaluation.lvis_synthetic import (
    GT_BOXES,
    SIZES,
    assert_close,
    detections,
    lvis_gt,
    rectangle,
    variants,
)


@needs_lvis
@pytest.mark.parametrize("iou_type", ["segm", "bbox"])
def test_federated_ap_is_lvis_apis(iou_type, tmp_path):
    results = detections(seed=3)[iou_type]
    figures = {}
    for name, gt in variants().items():
        figures[name] = federated_ap(load_coco(gt), results, iou_type)
        assert_close(figures[name], lvis_eval(gt, results, iou_type, tmp_path))
    for name in LVIS_AP_NAMES[:3] + LVIS_AP_NAMES[6:]:
        assert 0 < figures["as is"][name] < 1, name
    # each rule moves the figure: unmatched detections on a not exhaustively labelled category
    # are no false positives; detections of an unverified category are left out
    assert figures["as is"]["AP"] > figures["exhaustive"]["AP"] + 1e-3
    assert figures["as is"]["AP"] > figures["verified"]["AP"] + 1e-3
    coco_gt = load_coco(variants()["as is"])
    cocoeval = COCOeval(coco_gt, coco_gt.loadRes([dict(r) for r in results]), iou_type)
    cocoeval.params.maxDets = [1, 10, 300]
    cocoeval.evaluate()
    cocoeval.accumulate()
    cocoeval.summarize()
    assert abs(cocoeval.stats[0] - figures["as is"]["AP"]) > 1e-3


@needs_lvis
@pytest.mark.parametrize("iou_type", ["segm", "bbox"])
def test_detection_limit_and_category_subset_are_lvis_apis(iou_type, tmp_path):
    """At most max_detections per image (its highest scores, ties in the given order), and
    the figures of a subset of categories (APr of the subset's rare ones alone)."""
    results = detections(seed=1)[iou_type]
    gt = lvis_gt()
    limited = federated_ap(load_coco(gt), results, iou_type, max_detections=7)
    assert_close(limited, lvis_eval(gt, results, iou_type, tmp_path, max_dets=7))
    assert limited["AP"] != federated_ap(load_coco(gt), results, iou_type)["AP"]
    subset = federated_ap(load_coco(gt), results, iou_type, category_ids=[2, 3, 5])
    assert_close(subset, lvis_eval(gt, results, iou_type, tmp_path, cat_ids=[2, 3, 5]))
    assert np.isnan(subset["APr"])  # category 5, the subset's rare one, has no GT


def test_no_detections_score_zero():
    gt = load_coco(lvis_gt())
    figures = federated_ap(gt, [], "segm")
    assert figures["AP"] == figures["APr"] == figures["APf"] == 0.0


def outlines(width: int = 2) -> list:
    """Each GT rectangle's outline (its band of width px) as a detection of its category, the
    highest scores: boundary IoU near 1, mask IoU far lower (boundary AP takes the min)."""
    found = []
    for image_id, category_id, x, y, w, h, _ in GT_BOXES:
        mask = rectangle(SIZES[image_id], x, y, w, h)
        mask[y + width : y + h - width, x + width : x + w - width] = False
        found.append({"image_id": image_id, "category_id": category_id, "score": 0.95,
                      "segmentation": encode_mask(mask)})
    return found


@needs_lvis
def test_federated_boundary_ap_is_lvis_apis_with_boundary_iou(tmp_path):
    """Boundary AP: LVISEval with its IoU replaced by min(mask IoU, boundary IoU) (the
    boundary-iou-api's LVIS variant), each federated rule still moving the figure."""
    # near copies of the GT (holes would make every mask all boundary, 3 px miss every band)
    results = detections(seed=0, holes=0.0, jitter=1)["segm"] + outlines()
    figures = {}
    for name, gt in variants().items():
        figures[name] = federated_ap(load_coco(gt), results, "boundary", dilation_ratio=0.02)
        assert_close(figures[name], lvis_eval(gt, results, "segm", tmp_path, boundary_ratio=0.02))
    mask = federated_ap(load_coco(variants()["as is"]), results, "segm")
    assert 0 < figures["as is"]["AP"] < mask["AP"] - 1e-3  # the boundary is the stricter IoU
    for name in ("APr", "APc", "APf"):
        assert 0 < figures["as is"][name] < 1, name
    assert figures["as is"]["AP"] > figures["exhaustive"]["AP"] + 1e-3
    assert figures["as is"]["AP"] > figures["verified"]["AP"] + 1e-3
    wider = federated_ap(load_coco(variants()["as is"]), results, "boundary", dilation_ratio=0.1)
    assert_close(wider, lvis_eval(variants()["as is"], results, "segm", tmp_path,
                                  boundary_ratio=0.1))
    assert wider["AP"] != figures["as is"]["AP"]


def test_an_unknown_iou_type_is_refused():
    with pytest.raises(ValueError, match="iou_type 'mask': one of segm, boundary, bbox"):
        federated_ap(load_coco(lvis_gt()), [], "mask")
