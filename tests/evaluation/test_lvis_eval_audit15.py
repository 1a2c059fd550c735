"""LVIS boundary AP (lvis_eval.federated_ap iou_type="boundary"; audit 15; no model, one 64 x 64
image): each pair's IoU is min(mask IoU, boundary IoU) at the given boundary width (the bands
drawn with cv2 as the boundary-iou-api draws them, the IoU counted in numpy), the default width
is the official 0.02, and an unknown iou_type is refused."""

import numpy as np
import pytest

from samhq_train.evaluation.coco import encode_mask, load_coco
from samhq_train.evaluation.lvis_eval import IOU_THRESHOLDS, federated_ap
from tests.evaluation.lvis_reference import boundary_band

SIZE = 64


def square(x, y, side) -> np.ndarray:
    mask = np.zeros((SIZE, SIZE), bool)
    mask[y : y + side, x : x + side] = True
    return mask


GT = square(8, 8, 40)
# a detection 1 px off the GT, and one inside it (a crowd IoU would be 1) scored higher, whose
# boundary IoU is the lower
FOUND = [(0.6, square(9, 8, 40)), (0.9, square(8, 8, 38))]


def gt_json() -> dict:
    return {"images": [{"id": 1, "height": SIZE, "width": SIZE, "neg_category_ids": [],
                        "not_exhaustive_category_ids": []}],
            "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "iscrowd": 0,
                             "area": float(GT.sum()), "bbox": [8, 8, 40, 40],
                             "segmentation": encode_mask(GT)}],
            "categories": [{"id": 1, "name": "thing", "frequency": "f"}]}


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return (a & b).sum() / (a | b).sum()


def expected_ap(ratio: float) -> float:
    """AP of FOUND by hand: at each threshold, precision 1 over the recall the best-scoring
    detection reaching it gives (the GT found first by the 0.9 detection, else by the 0.6)."""
    pair = {}
    for score, mask in FOUND:
        bands = [boundary_band(encode_mask(m), ratio).astype(bool) for m in (mask, GT)]
        pair[score] = min(iou(mask, GT), iou(*bands))
    ap = []
    for t in IOU_THRESHOLDS:
        if pair[0.9] >= t:
            ap.append(1.0)
        elif pair[0.6] >= t:  # found second: precision 1/2 at recall 1
            ap.append(0.5)
        else:
            ap.append(0.0)
    return float(np.mean(ap))


def results() -> list[dict]:
    return [{"image_id": 1, "category_id": 1, "score": s, "segmentation": encode_mask(m)}
            for s, m in FOUND]


@pytest.mark.parametrize("ratio", [0.05, 0.1])
def test_boundary_ap_is_min_of_mask_and_boundary_iou_at_the_given_width(ratio):
    """Mutants: the ratio not handed on (or doubled, halved); max in place of min; the bands of
    detections and GT swapped (a G x D matrix); crowd IoU (iscrowd 1) for the masks or bands;
    the boundary IoU taken for "segm" instead of "boundary"."""
    figures = federated_ap(load_coco(gt_json()), results(), "boundary", dilation_ratio=ratio)
    assert figures["AP"] == pytest.approx(expected_ap(ratio), abs=1e-12)
    assert len({expected_ap(r) for r in (0.02, 0.05, 0.1, 0.2)}) == 4  # the width matters
    masks = federated_ap(load_coco(gt_json()), results(), "segm", dilation_ratio=ratio)
    assert masks["AP"] == pytest.approx(expected_ap(1.0), abs=1e-12)  # band = whole mask
    assert masks["AP"] > figures["AP"]


def test_the_default_width_is_the_official_two_percent():
    """Mutant: another default dilation_ratio."""
    figures = federated_ap(load_coco(gt_json()), results(), "boundary")
    assert figures["AP"] == pytest.approx(expected_ap(0.02), abs=1e-12)


def test_an_unknown_iou_type_is_refused():
    """Mutant: the iou_type check skipped (an unknown type scored as masks)."""
    with pytest.raises(ValueError, match="iou_type 'boundry': one of segm, boundary, bbox"):
        federated_ap(load_coco(gt_json()), results(), "boundry")
