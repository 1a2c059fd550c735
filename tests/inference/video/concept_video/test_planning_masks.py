"""The mask arithmetic equals Meta's: mask IoU, hole filling with sprinkle removal (skimage
connected components on the CPU), mask boxes (perflib's and mask_to_box) and the object-wise
non-overlap rule of the outputs."""

import numpy as np
import pytest
import torch

from samhq_train.inference.video.concept_video.planning_masks import (
    fill_holes_and_sprinkles,
    mask_box,
    mask_iou,
    masks_to_boxes,
    object_wise_non_overlapping,
)
from tests.inference.video.concept_video.meta_planning import box_logits, jitter, random_box

tracker_utils = pytest.importorskip("sam3.model.sam3_tracker_utils")
masks_ops = pytest.importorskip("sam3.perflib.masks_ops")
tracking_predictor = pytest.importorskip("sam3.model.sam3_tracking_predictor")


def stack(rng, size=24, count=7):
    boxes = [random_box(size, rng) for _ in range(count - 2)]
    boxes += [jitter(boxes[0], size, rng), None]  # an overlapping pair and an empty mask
    return box_logits(boxes, size, rng)


@pytest.mark.parametrize("seed", range(4))
def test_mask_iou_and_boxes_equal_metas(seed):
    rng = np.random.default_rng(seed)
    a, b = stack(rng) > 0, stack(rng) > 0
    assert torch.equal(mask_iou(a, b), masks_ops.mask_iou(a, b))
    assert mask_iou(a, a)[0, 5] > 0  # the jittered pair overlaps
    assert torch.equal(masks_to_boxes(a), masks_ops.masks_to_boxes(a, list(range(len(a)))))
    meta_boxes = tracker_utils.mask_to_box(a[:, None])[:, 0]
    assert torch.equal(torch.stack([mask_box(m) for m in a]), meta_boxes)


@pytest.mark.parametrize("seed, size, max_area", [(0, 24, 16), (1, 25, 16), (2, 32, 4), (3, 24, 0)])
def test_fill_holes_and_sprinkles_equals_metas(seed, size, max_area):
    rng = np.random.default_rng(seed)
    logits = stack(rng, size, count=9)[:, None]
    logits[2, 0, :3, :3] = 2.0  # a small blob next to a larger one: a sprinkle
    ours = fill_holes_and_sprinkles(logits, max_area)
    meta = tracker_utils.fill_holes_in_mask_scores(
        logits, max_area=max_area, fill_holes=True, remove_sprinkles=True
    )
    assert torch.equal(ours, meta)
    changed = (ours != logits).sum().item()
    assert changed > 0 if max_area > 0 else changed == 0


@pytest.mark.parametrize("seed", range(4))
def test_object_wise_non_overlapping_equals_metas(seed):
    rng = np.random.default_rng(seed)
    masks = stack(rng, count=6) > 0
    probs = torch.from_numpy(rng.random(6).astype(np.float32))
    probs[0] = 0.0  # an object without a tracker score on this frame (the first: argmax's pick)
    probs[2] = probs[1]  # a tie
    tracker = tracking_predictor.Sam3TrackerPredictor.__new__(
        tracking_predictor.Sam3TrackerPredictor
    )
    meta = tracker._apply_object_wise_non_overlapping_constraints(
        masks[:, None], probs[:, None], background_value=0
    ).squeeze(1) > 0
    ours = object_wise_non_overlapping(masks, probs)
    assert torch.equal(ours, meta)
    assert not torch.equal(ours, masks)
    assert torch.equal(object_wise_non_overlapping(masks[:1], probs[:1]), masks[:1])
