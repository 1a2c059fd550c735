"""MaskIoU / BoundaryIoU's inputs (evaluation/iou_metrics.py, audit 16): a B x 1 x H x W batch is
its B images, mismatched inputs are refused, a logit of exactly 0 is background, last_scores is
the last call's per-image values, BoundaryIoU's own dilation ratio is the one used."""

import numpy as np
import pytest
import torch

from samhq_train.evaluation.iou_metrics import BoundaryIoU, MaskIoU
from samhq_train.evaluation.metrics import boundary_iou, mask_iou
from tests.evaluation.test_metrics import random_masks


def batch(seed: int, h: int = 23, w: int = 31) -> tuple[torch.Tensor, torch.Tensor]:
    masks = torch.from_numpy(random_masks(np.random.default_rng(seed), h, w))
    logits = torch.randn(masks.shape, generator=torch.Generator().manual_seed(seed))
    return logits + 3.0 * masks.roll(1, dims=-1), masks.to(torch.uint8) * 255


def test_a_batch_with_a_channel_is_its_images():
    logits, gt = batch(0)
    assert len(logits) > 1
    for metric_class in (MaskIoU, BoundaryIoU):
        flat, with_channel = metric_class(), metric_class()
        flat.update(logits, gt)
        with_channel.update(logits[:, None], gt[:, None])
        assert with_channel.last_scores == flat.last_scores
        assert with_channel.count.item() == len(logits)


def test_mismatched_inputs_are_refused():
    logits, gt = batch(1)
    with pytest.raises(ValueError, match="both be tensors or both be sequences"):
        MaskIoU().update(logits, list(gt))
    with pytest.raises(ValueError, match="got 2 predictions but 1 targets"):
        MaskIoU().update([logits[0], logits[1]], [gt[0]])


def test_a_logit_of_zero_is_background():
    metric = MaskIoU()
    metric.update(torch.zeros(1, 4, 4), torch.zeros(1, 4, 4, dtype=torch.uint8))
    assert metric.last_scores == [1.0]  # both empty


def test_last_scores_are_the_last_calls_and_the_ratio_is_the_metrics_own():
    (logits, gt), (logits2, gt2) = batch(2), batch(3, 40, 40)
    metric = BoundaryIoU(dilation_ratio=0.1)
    metric.update(logits, gt)
    metric.update(logits2, gt2)
    want = boundary_iou(logits2 > 0, gt2 > 128, 0.1)
    assert metric.last_scores == pytest.approx(want.tolist())
    assert not torch.allclose(want, boundary_iou(logits2 > 0, gt2 > 128))  # the default differs
    mask = MaskIoU()
    mask.update(logits2, gt2)
    assert mask.last_scores == pytest.approx(mask_iou(logits2 > 0, gt2 > 128).tolist())
