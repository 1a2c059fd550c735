"""plan_frame over whole sequences equals Meta's _det_track_one_frame (its planning phase,
metadata and build_outputs; detection, propagation and tracker execution replaced by the same
inputs): after every frame the plan, the masks to encode, the re-prompted tracks and the whole
state are compared, forward and in reverse, with Meta's shipped settings and scaled-down ones
under which every rule fires."""

from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from samhq_train.inference.video.concept_video import ConceptVideoSettings, MaskletState, plan_frame
from samhq_train.inference.video.concept_video.planning_detections import (
    FrameDetections,
    near_boundary_keep,
)
from samhq_train.inference.video.concept_video.planning_outputs import frame_masks
from samhq_train.inference.video.concept_video.planning_recondition import recondition_decision
from tests.inference.video.concept_video.meta_planning import MetaFrameRunner
from tests.inference.video.concept_video.planning_world import World

SCALED = dict(
    hotstart_delay=4, hotstart_unmatch_thresh=2, hotstart_dup_thresh=2, init_trk_keep_alive=2,
    max_trk_keep_alive=3, min_trk_keep_alive=-1, recondition_every_nth_frame=3,
    suppress_overlapping_based_on_recent_occlusion_threshold=0.3,
)
SETTINGS = {
    "shipped": ConceptVideoSettings(),
    "scaled": ConceptVideoSettings(**SCALED, suppress_unmatched_only_within_hotstart=False),
    "limits": ConceptVideoSettings(
        **SCALED, max_num_objects=4, suppress_det_close_to_boundary=True,
        decrease_trk_keep_alive_for_empty_masklets=True, reconstruction_bbox_iou_thresh=0.6,
        reconstruction_bbox_det_score=0.7, masklet_confirmation_enable=True,
    ),
}


def assert_state_equal(state: MaskletState, meta: dict):
    np.testing.assert_array_equal(state.obj_ids, meta["obj_ids_all_gpu"])
    assert state.max_obj_id == meta["max_obj_id"]
    assert state.obj_id_to_score == meta["obj_id_to_score"]
    meta_frames = {f: s for f, s in meta["obj_id_to_tracker_score_frame_wise"].items() if s}
    assert {f: s for f, s in state.tracker_scores.items() if s} == meta_frames
    assert state.last_occluded == {k: int(v) for k, v in meta["obj_id_to_last_occluded"].items()}
    rank0 = meta["rank0_metadata"]
    assert state.first_frame == rank0["obj_first_frame_idx"]
    assert state.unmatched_frames == dict(rank0["unmatched_frame_inds"])
    assert state.keep_alive == dict(rank0["trk_keep_alive"])
    assert state.overlap_frames == dict(rank0["overlap_pair_to_frame_inds"])
    assert state.removed_ids == rank0["removed_obj_ids"]
    assert state.suppressed_ids == dict(rank0["suppressed_obj_ids"])
    if "masklet_confirmation" in rank0:
        confirmation = rank0["masklet_confirmation"]
        np.testing.assert_array_equal(state.confirmation_status, confirmation["status"])
        np.testing.assert_array_equal(
            state.consecutive_det_num, confirmation["consecutive_det_num"]
        )


def assert_plan_equal(plan, meta_plan: dict, encoded, stats, seen: Counter):
    np.testing.assert_array_equal(plan.new_det_inds, meta_plan["new_det_fa_inds"])
    np.testing.assert_array_equal(plan.new_obj_ids, meta_plan["new_det_obj_ids"])
    np.testing.assert_array_equal(
        plan.association.unmatched_obj_ids, meta_plan["unmatched_trk_obj_ids"]
    )
    det_to_trk = meta_plan["det_to_matched_trk_obj_ids"]
    assert plan.association.det_to_matched_obj_ids.keys() == det_to_trk.keys()
    for d, ids in det_to_trk.items():
        np.testing.assert_array_equal(plan.association.det_to_matched_obj_ids[d], ids)
    assert plan.association.trk_to_high_conf_det == meta_plan["trk_id_to_max_iou_high_conf_det"]
    assert plan.removed_obj_ids == meta_plan["obj_ids_newly_removed"]
    assert plan.num_dropped == meta_plan["num_obj_dropped_due_to_limit"] == stats["num_obj_dropped"]
    assert plan.recondition.bbox_obj_ids == meta_plan["reconditioned_obj_ids"]
    if encoded is None:
        assert len(plan.prev_obj_ids) == 0
    else:
        assert torch.equal(plan.masks_to_encode, encoded)
    seen["new"] += len(plan.new_obj_ids)
    seen["removed"] += len(plan.removed_obj_ids)
    seen["dropped"] += plan.num_dropped
    seen["suppressed"] += int(plan.suppressed.sum())
    seen["recondition"] += len(plan.recondition.obj_to_det)
    seen["bbox"] += len(plan.recondition.bbox_obj_ids)


def run_sequence(settings, seed, reverse, num_frames=18, is_image_only=False):
    world = World(np.random.default_rng(seed), num_frames)
    meta = MetaFrameRunner(settings)
    state = MaskletState.initial(settings)
    seen = Counter()
    order = range(num_frames - 1, -1, -1) if reverse else range(num_frames)
    for frame in order:
        detections, sources = world.detections(frame)
        trk_masks, trk_scores = world.tracker_outputs(frame, state.obj_ids)
        det_out = {"bbox": detections.boxes_xyxy, "mask": detections.mask_logits,
                   "scores": detections.scores}
        meta_masks, _, metadata, stats, meta_plan, encoded = meta.step(
            frame, num_frames, reverse, det_out, trk_masks, trk_scores, is_image_only
        )
        before = repr(state)
        plan, new_state = plan_frame(
            settings, state, frame, num_frames, reverse, detections, trk_masks, trk_scores,
            is_image_only,
        )
        assert repr(state) == before  # the given state is left as it was
        assert_plan_equal(plan, meta_plan, encoded, stats, seen)
        assert_recondition_equal(plan, detections, meta, frame)
        assert_state_equal(new_state, metadata)
        assert state is not new_state and len(state.obj_ids) == len(plan.prev_obj_ids)
        ours = frame_masks(settings, plan, detections, *meta.video_hw)
        assert ours.keys() == meta_masks.keys()
        for obj_id, mask in meta_masks.items():
            assert torch.equal(ours[obj_id], mask), obj_id
        seen["suppressed_ids"] += len(new_state.suppressed_ids[frame])
        new_boxes = detections.boxes_xyxy[plan.association.new_det_inds]
        seen["by_boundary"] += int((~near_boundary_keep(new_boxes)).sum())
        seen["unconfirmed"] += len(new_state.unconfirmed_obj_ids())
        world.add_objects(plan.new_obj_ids, plan.new_det_inds, sources)
        state = new_state
    seen["dup_pairs"] += len(state.overlap_frames)
    seen["unmatched_objects"] += len(state.unmatched_frames)
    return seen


def assert_recondition_equal(plan, detections, meta, frame):
    calls = [(obj_id, mask) for f, obj_id, mask in meta.model.tracker.new_masks if f == frame]
    assert sorted(obj_id for obj_id, _ in calls) == sorted(plan.recondition.obj_to_det)
    for obj_id, mask in calls:
        det = detections.mask_logits[plan.recondition.obj_to_det[obj_id]][None, None]
        resized = F.interpolate(det, size=mask.shape, mode="bilinear", align_corners=False)
        assert torch.equal(resized[0, 0] > 0, mask)


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("name", SETTINGS)
def test_plan_frame_equals_metas_over_sequences(name, reverse):
    seen = Counter()
    for seed in range(3):
        seen += run_sequence(SETTINGS[name], seed, reverse)
    print(name, reverse, dict(seen))
    assert seen["new"] > 0 and seen["suppressed"] > 0 and seen["recondition"] > 0
    assert seen["dup_pairs"] > 0 and seen["unmatched_objects"] > 0
    if name != "shipped":
        assert seen["removed"] > 0
    if name == "scaled":
        assert seen["suppressed_ids"] > 0
    if name == "limits":
        assert seen["dropped"] > 0 and seen["bbox"] > 0 and seen["unconfirmed"] > 0
        assert seen["by_boundary"] > 0


def test_single_image_has_no_object_limit():
    settings = SETTINGS["limits"]
    seen = run_sequence(settings, 0, False, num_frames=6, is_image_only=True)
    assert seen["dropped"] == 0 and seen["new"] > settings.max_num_objects


@pytest.mark.parametrize("score, reconditioned", [(0.875, True), (0.87, False)])
def test_a_box_mismatch_scoring_exactly_the_det_score_reconditions(score, reconditioned):
    """Meta's rule is det_score >= reconstruction_bbox_det_score: a tie re-prompts the track."""
    settings = ConceptVideoSettings(
        reconstruction_bbox_iou_thresh=0.5, reconstruction_bbox_det_score=0.875,
        recondition_every_nth_frame=0,
    )
    track = torch.full((1, 16, 16), -2.0)
    track[0, :4, :4] = 2.0  # its box: the top-left corner, far from the detection's
    detections = FrameDetections(
        torch.tensor([[0.5, 0.5, 1.0, 1.0]]), torch.zeros(1, 16, 16), torch.tensor([score])
    )
    decision = recondition_decision(
        settings, 5, detections, {3: 0}, np.array([3]), track, torch.tensor([1.0])
    )
    assert decision.bbox_obj_ids == ({3} if reconditioned else set())
    assert decision.obj_to_det == ({3: 0} if reconditioned else {})
