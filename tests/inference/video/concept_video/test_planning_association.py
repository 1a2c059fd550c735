"""associate equals Meta's _associate_det_trk: new detections, unmatched / empty tracks,
det -> matched track ids, track -> high-confidence detection; masks of equal and different
sizes, no tracks, no detections, many-to-one and one-to-one (Hungarian) track matching."""

from collections import Counter

import numpy as np
import pytest
import torch

from samhq_train.inference.video.concept_video.planning_association import associate
from samhq_train.inference.video.concept_video.settings import ConceptVideoSettings
from tests.inference.video.concept_video.meta_planning import (
    box_logits,
    jitter,
    meta_video_base,
    random_box,
)

SETTINGS = {
    "shipped": ConceptVideoSettings(),
    "o2o": ConceptVideoSettings(o2o_matching_masklets_enable=True, trk_assoc_iou_thresh=0.3),
    "strict": ConceptVideoSettings(assoc_iou_thresh=0.5, new_det_thresh=0.5),
}


def frame(rng, trk_size, det_size, num_trk=6, num_det=7):
    """Tracks (one empty), detections: near copies of some tracks (scaled to their size), one
    covering two tracks, new ones; scores from 0.5 to 1."""
    trk_boxes = [random_box(trk_size, rng, 4) for _ in range(num_trk - 1)] + [None]
    scale = det_size / trk_size
    det_boxes = []
    for box in trk_boxes[: num_det - 3]:
        if box is not None:
            y0, x0, y1, x1 = (int(round(v * scale)) for v in box)
            det_boxes.append(jitter((y0, x0, max(y1, y0 + 1), max(x1, x0 + 1)), det_size, rng))
    det_boxes.append((0, 0, det_size, det_size))  # overlaps every track
    while len(det_boxes) < num_det:
        det_boxes.append(random_box(det_size, rng, 3))
    order = rng.permutation(len(det_boxes))
    det_masks = box_logits([det_boxes[i] for i in order], det_size, rng)
    scores = (0.5 + 0.5 * rng.random(len(det_boxes))).astype(np.float32)
    scores[rng.random(len(scores)) < 0.4] = 0.9 + 0.1 * rng.random()
    trk_ids = np.sort(rng.choice(40, size=num_trk, replace=False)).astype(np.int64)
    return det_masks, scores, box_logits(trk_boxes, trk_size, rng), trk_ids


def assert_same(ours, meta, seen: Counter):
    new, unmatched, det_to_trk, trk_to_det, empty = meta
    np.testing.assert_array_equal(ours.new_det_inds, new)
    np.testing.assert_array_equal(ours.unmatched_obj_ids, unmatched)
    np.testing.assert_array_equal(ours.empty_obj_ids, empty)
    assert ours.det_to_matched_obj_ids.keys() == det_to_trk.keys()
    for d, ids in det_to_trk.items():
        np.testing.assert_array_equal(ours.det_to_matched_obj_ids[d], ids)
        assert ours.det_to_matched_obj_ids[d].dtype == ids.dtype
    assert ours.trk_to_high_conf_det == trk_to_det
    outcomes = {"new": new, "unmatched": unmatched, "high_conf": trk_to_det, "empty": empty}
    for name, value in outcomes.items():
        seen[name] += len(value)
    seen["multi"] += sum(len(ids) > 1 for ids in det_to_trk.values())


@pytest.mark.parametrize("name", SETTINGS)
@pytest.mark.parametrize("trk_size, det_size", [(24, 24), (32, 24), (20, 28)])
def test_associate_equals_metas(name, trk_size, det_size):
    settings = SETTINGS[name]
    meta = meta_video_base(settings)
    rng = np.random.default_rng(trk_size * 100 + det_size)
    seen = Counter()
    for _ in range(12):
        det, scores, trk, ids = frame(rng, trk_size, det_size)
        ours = associate(settings, det, scores, trk, ids)
        assert_same(ours, meta._associate_det_trk(det, scores, trk, ids), seen)
    assert min(seen.values()) > 0, seen  # every outcome happened


def test_no_tracks_or_no_detections():
    settings = SETTINGS["shipped"]
    meta = meta_video_base(settings)
    det, scores, trk, ids = frame(np.random.default_rng(3), 24, 24)
    no_trk = torch.zeros(0, 24, 24)
    no_det = torch.zeros(0, 24, 24)
    empty_ids = np.array([], np.int64)
    seen = Counter()
    assert_same(associate(settings, det, scores, no_trk, empty_ids),
                meta._associate_det_trk(det, scores, no_trk, empty_ids), seen)
    assert_same(associate(settings, no_det, scores[:0], trk, ids),
                meta._associate_det_trk(no_det, scores[:0], trk, ids), seen)
    assert seen["new"] == len(scores) and seen["unmatched"] == len(ids) - 1


@pytest.mark.parametrize("o2o", [False, True])
def test_a_score_and_an_iou_exactly_at_their_thresholds_equal_metas(o2o):
    """Detection 0 covers half of track 7 (IoU exactly 0.5), detection 1 overlaps no track with
    a score exactly new_det_thresh, detection 2 scores just under it: at the thresholds count."""
    settings = ConceptVideoSettings(
        o2o_matching_masklets_enable=o2o, assoc_iou_thresh=0.5, trk_assoc_iou_thresh=0.5,
        new_det_thresh=0.5,
    )

    def logits(*boxes):
        out = torch.full((len(boxes), 16, 16), -2.0)
        for k, (y0, x0, y1, x1) in enumerate(boxes):
            out[k, y0:y1, x0:x1] = 2.0
        return out

    trk, ids = logits((0, 0, 4, 4), (8, 8, 12, 12)), np.array([7, 9], np.int64)
    det = logits((0, 0, 4, 2), (8, 12, 12, 16), (12, 0, 16, 4))
    scores = np.array([0.9, 0.5, 0.49], np.float32)
    ours = associate(settings, det, scores, trk, ids)
    assert_same(ours, meta_video_base(settings)._associate_det_trk(det, scores, trk, ids),
                Counter())
    np.testing.assert_array_equal(ours.new_det_inds, [1])
    np.testing.assert_array_equal(ours.unmatched_obj_ids, [9])
    np.testing.assert_array_equal(ours.det_to_matched_obj_ids[0], [7])
