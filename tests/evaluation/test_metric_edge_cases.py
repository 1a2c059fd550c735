"""mIoU / mBIoU on the edge cases a user's data hits, against values derived by hand from the
official SAM-HQ definitions (train/utils/misc.py: prediction > 0, GT > 128, IoU = |P & G| / |P | G|,
boundary = mask minus its erosion, d = max(1, round(0.02 * diagonal)) times by a 3x3 square, the
mask padded with one pixel of 0 so that pixels on the image border are boundary)."""

import random

import numpy as np
import pytest
import torch

from samhq_train.evaluation.iou_metrics import BoundaryIoU, MaskIoU
from samhq_train.evaluation.metrics import boundary_dilation, boundary_iou, mask_iou
from samhq_train.evaluation.worst import WorstImages


def _pair(pred: np.ndarray, gt: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.from_numpy(pred)[None], torch.from_numpy(gt)[None]


def test_full_image_gt_against_an_inner_square():
    # 5 x 5: d = max(1, round(0.02 * 7.07)) = 1. GT boundary: the 16 border pixels; the 3 x 3
    # prediction's boundary: its 8 outer pixels. Disjoint: BIoU 0; mask IoU 9 / 25.
    gt = np.ones((5, 5), bool)
    pred = np.zeros((5, 5), bool)
    pred[1:4, 1:4] = True
    p, g = _pair(pred, gt)
    assert mask_iou(p, g).item() == pytest.approx(9 / 25)
    assert boundary_iou(p, g).item() == 0.0
    assert boundary_iou(g, g).item() == 1.0  # the whole image against itself


def test_an_object_on_the_image_border_has_boundary_along_the_border():
    # 6 x 8: diagonal 10, d = 1. GT rows 0-2, prediction rows 0-3, full width.
    # GT boundary: row 0 (8, image border), row 1 cols 0 and 7 (2), row 2 (8) = 18 pixels.
    # Prediction boundary: row 0 (8), rows 1-2 cols 0 and 7 (4), row 3 (8) = 20 pixels.
    # Common: row 0 (8) + cols 0 and 7 of rows 1 and 2 (4) = 12; union 18 + 20 - 12 = 26.
    gt = np.zeros((6, 8), bool)
    gt[0:3] = True
    pred = np.zeros((6, 8), bool)
    pred[0:4] = True
    p, g = _pair(pred, gt)
    assert mask_iou(p, g).item() == pytest.approx(24 / 32)
    assert boundary_iou(p, g).item() == pytest.approx(12 / 26)


@pytest.mark.parametrize(
    ("h", "w", "d"),
    [
        (1, 1, 1),  # 0.028 rounds to 0: clamped to 1
        (3, 2, 1),
        (35, 1, 1),  # 0.70 rounds to 1
        (75, 100, 2),  # 0.02 * 125 = 2.5: Python's round, half to even, gives 2 (not 3)
        (100, 75, 2),
        (125, 300, 6),  # 0.02 * 325 = 6.5: 6
        (1024, 1024, 29),
    ],
)
def test_dilation_width_rounds_as_the_official_code(h, w, d):
    assert boundary_dilation(h, w) == d


def test_a_one_pixel_image():
    on = np.ones((1, 1), bool)
    off = np.zeros((1, 1), bool)
    assert mask_iou(*_pair(on, on)).item() == boundary_iou(*_pair(on, on)).item() == 1.0
    assert mask_iou(*_pair(off, on)).item() == boundary_iou(*_pair(off, on)).item() == 0.0


def test_empty_masks():
    # official: 0 / |other| = 0 when exactly one mask is empty; 0 / 0 (NaN, which makes the
    # official mean NaN) when both are: ours scores that 1.0 (docs/evaluation.md).
    empty = np.zeros((7, 9), bool)
    obj = np.zeros((7, 9), bool)
    obj[2:5, 3:6] = True
    for fn in (mask_iou, boundary_iou):
        assert fn(*_pair(obj, empty)).item() == 0.0
        assert fn(*_pair(empty, obj)).item() == 0.0
        assert fn(*_pair(empty, empty)).item() == 1.0


def test_a_16_bit_gt_is_refused_in_one_line():
    logits = torch.full((1, 2, 2), 1.0)
    for gt in (
        torch.tensor([[[0, 65535], [300, 0]]], dtype=torch.int32),
        torch.from_numpy(np.array([[[0, 65535], [300, 0]]], dtype=np.uint16)),
    ):
        for metric in (MaskIoU(), BoundaryIoU()):
            with pytest.raises(ValueError, match=r"65535.*16-bit"):
                metric.update(logits, gt)


def test_grey_gt_is_foreground_above_128():
    gt = torch.tensor([[[0, 127, 128, 129, 200, 255]]], dtype=torch.uint8)
    logits = torch.tensor([[[1.0, 1.0, 1.0, 1.0, -1.0, -1.0]]])  # P = {0,1,2,3}, G = {3,4,5}
    metric = MaskIoU()
    metric.update(logits, gt)
    assert metric.compute().item() == pytest.approx(1 / 6)


def test_nan_logits_score_as_background_and_are_reported():
    # official: NaN > 0 is false, so a NaN pixel is background: the first image predicts
    # nothing (IoU 0), the second has its NaN pixel outside the GT (IoU 4 / 4).
    gt = torch.zeros(2, 4, 4, dtype=torch.uint8)
    gt[:, 1:3, 1:3] = 255
    logits = torch.where(gt > 128, 5.0, -5.0)
    logits[0] = float("nan")
    logits[1, 0, 0] = float("nan")
    for metric in (MaskIoU(), BoundaryIoU()):
        metric.update(logits, gt)
        assert metric.last_scores == [0.0, 1.0]
        assert metric.nan_images.item() == 2
        with pytest.warns(UserWarning, match=r"2 of 2 images had NaN"):
            assert metric.compute().item() == 0.5


def test_infinite_logits_are_plain_foreground_and_background():
    gt = torch.zeros(1, 4, 4, dtype=torch.uint8)
    gt[0, 1:3, 1:3] = 255
    logits = torch.where(gt > 128, float("inf"), float("-inf"))
    metric = MaskIoU()
    metric.update(logits, gt)
    assert metric.compute().item() == 1.0 and metric.nan_images.item() == 0


def test_worst_images_with_a_nan_score_rank_it_first():
    for order in range(6):
        scores = [0.5, float("nan"), 0.2, 0.9, 0.2, 0.7]
        indices = list(range(len(scores)))
        random.Random(order).shuffle(indices)
        keep = WorstImages(3)
        for index in indices:
            if keep.wants(scores[index], index):
                keep.add(scores[index], index, {"index": index})
        assert [item["index"] for item in keep.sorted()] == [1, 2, 4]


def test_worst_images_of_a_set_smaller_than_the_list():
    keep = WorstImages(8)
    for index, score in enumerate([0.4, 0.1, 0.4]):
        assert keep.wants(score, index)
        keep.add(score, index, {"index": index})
    assert [item["index"] for item in keep.sorted()] == [1, 0, 2]


def test_dataset_metrics_name_the_set_whose_predictions_held_nan():
    from samhq_train.evaluation.evaluate import DatasetMetrics

    gt = torch.zeros(4, 4, dtype=torch.uint8)
    gt[1:3, 1:3] = 255
    good = torch.where(gt > 128, 5.0, -5.0)
    metrics = DatasetMetrics(["DIS-VD", "COIFT"])
    metrics.update(["DIS-VD", "COIFT"], [good, torch.full((4, 4), float("nan"))], [gt, gt])
    with pytest.warns(UserWarning) as caught:
        results = metrics.compute()
    messages = sorted(str(w.message) for w in caught)
    assert [m.split(":")[0] for m in messages] == ["COIFT mBIoU", "COIFT mIoU"]
    assert all("1 of 1 images had NaN" in m for m in messages)
    assert results["COIFT"]["mIoU"] == 0.0 and results["DIS-VD"]["mIoU"] == 1.0
