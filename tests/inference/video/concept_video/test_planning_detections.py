"""filter_detections equals Meta's run_backbone_and_detection (joint score with presence from
Meta's _update_scores_and_boxes, mask NMS in its multi-GPU buffer code, threshold) on the same
raw detector outputs; the new-detection filters equal Meta's."""

import numpy as np
import pytest
import torch

from samhq_train.inference.video.concept_video.planning_detections import (
    filter_detections,
    limit_new_detections,
    near_boundary_keep,
)
from samhq_train.inference.video.concept_video.settings import ConceptVideoSettings
from tests.inference.video.concept_video.meta_planning import (
    box_logits,
    jitter,
    meta_detections,
    meta_joint_logits,
    meta_video_base,
    random_box,
)

SETTINGS = [
    ConceptVideoSettings(),
    ConceptVideoSettings(det_nms_thresh=0.5, score_threshold_detection=0.3),
    ConceptVideoSettings(det_nms_thresh=0.0, score_threshold_detection=0.4),
]


def raw_outputs(rng, queries=16, size=24):
    """Dot-product logits, a presence logit, and masks with near-duplicates (NMS fires)."""
    boxes = [random_box(size, rng) for _ in range(queries // 2)]
    boxes += [jitter(b, size, rng) for b in boxes[: queries // 2 - 1]] + [None]
    logits = torch.from_numpy(rng.normal(1.0, 2.5, queries).astype(np.float32))
    logits[0] = 30.0  # with a sure presence: probability above 1 - 1e-3, the inverse's eps
    presence = torch.tensor(float(rng.normal(2.0, 1.0)) if rng.random() < 0.5 else 8.0)
    return logits, presence, box_logits(boxes, size, rng)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("settings", SETTINGS, ids=["shipped", "nms0.5", "no-nms"])
def test_filter_detections_equals_metas(settings, seed):
    rng = np.random.default_rng(seed)
    logits, presence, masks = raw_outputs(rng)
    raw = meta_joint_logits(logits, presence)
    meta = meta_detections(settings, raw, masks)
    ours = filter_detections(settings, logits, presence, raw["pred_boxes_xyxy"][0], masks)
    assert torch.equal(ours.scores, meta["scores"])
    assert torch.equal(ours.boxes_xyxy, meta["bbox"])
    assert torch.equal(ours.mask_logits, meta["mask"])
    above = (raw["pred_logits"][0, :, 0].sigmoid() > settings.score_threshold_detection).sum()
    if settings.det_nms_thresh > 0:
        assert len(ours) < above  # NMS dropped some
    else:
        assert len(ours) == above


def test_no_prompt_keeps_no_detection():
    rng = np.random.default_rng(7)
    logits, presence, masks = raw_outputs(rng)
    raw = meta_joint_logits(logits, presence)
    meta = meta_detections(SETTINGS[0], raw, masks, allow_new_detections=False)
    ours = filter_detections(
        SETTINGS[0], logits, presence, raw["pred_boxes_xyxy"][0], masks, False
    )
    assert len(ours) == len(meta["scores"]) == 0
    assert ours.mask_logits.shape == meta["mask"].shape


@pytest.mark.parametrize("seed", range(4))
def test_new_detection_filters_equal_metas(seed):
    rng = np.random.default_rng(seed)
    meta = meta_video_base(ConceptVideoSettings())
    boxes = torch.from_numpy(rng.random((20, 4)).astype(np.float32))
    boxes[:, 2:] = boxes[:, :2] + boxes[:, 2:] * (1 - boxes[:, :2])
    boxes[0] = torch.tensor([0.0, 0.0, 0.04, 0.04])  # centre within the margin
    boxes[1] = torch.tensor([0.0, 0.3, 0.05, 0.5])  # centre x exactly on the margin
    boxes[2] = torch.tensor([0.3, 0.0, 0.5, 0.05])  # centre y exactly on the margin
    ours = near_boundary_keep(boxes)
    assert torch.equal(ours, meta._suppress_detections_close_to_boundary(boxes))
    assert not ours[:3].any()
    scores = rng.random(20).astype(np.float32)
    new = np.sort(rng.choice(20, size=9, replace=False)).astype(np.int64)
    for keep in (0, 4, 9):
        expected = meta._drop_new_det_with_obj_limit(new, scores, keep)
        np.testing.assert_array_equal(limit_new_detections(new, scores, keep), expected)
