"""Mutation audit (round 23) of evaluation/iou_metrics.py's NaN report: it counts images (not
pixels) out of all images seen, names the metric by its class without a label, and counts the
NaN of half-precision predictions too."""

import pytest
import torch

from samhq_train.evaluation.iou_metrics import BoundaryIoU, MaskIoU


def _case(dtype=torch.float32):
    gt = torch.zeros(3, 4, 4, dtype=torch.uint8)
    gt[:, 1:3, 1:3] = 255
    logits = torch.where(gt > 128, 5.0, -5.0).to(dtype)
    logits[1, :2] = float("nan")  # one image, eight NaN pixels
    return logits, gt


@pytest.mark.parametrize("metric", [MaskIoU, BoundaryIoU])
def test_the_warning_counts_images_of_all_seen_and_names_the_class(metric):
    m = metric()
    m.update(*_case())
    assert m.nan_images.item() == 1
    with pytest.warns(UserWarning, match=rf"^{metric.__name__}: 1 of 3 images had NaN"):
        m.compute()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_nan_is_counted(dtype):
    m = MaskIoU(label="set mIoU")
    m.update(*_case(dtype))
    assert m.nan_images.item() == 1
    with pytest.warns(UserWarning, match=r"^set mIoU: 1 of 3 images"):
        m.compute()


def test_processes_nan_counts_add_up():
    """The state's reduction is a sum (what DDP's sync and merge_state apply), not a max."""
    if not hasattr(MaskIoU, "merge_state"):
        pytest.skip("torchmetrics without Metric.merge_state")
    a, b = MaskIoU(), MaskIoU()
    a.update(*_case())
    b.update(*_case())
    a.merge_state(b)
    assert (a.nan_images.item(), a.count.item()) == (2, 6)
