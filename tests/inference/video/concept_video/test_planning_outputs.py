"""The shown outputs equal Meta's: postprocess_frame against Sam3VideoInference's
_postprocess_output, and plan_frame + frame_masks + HotstartBuffer against Meta's own
propagate_in_video loop (its hotstart buffer, removed / hidden / unconfirmed ids), with the
detector and the tracker's propagation replaced by the same inputs."""

from collections import Counter

import numpy as np
import pytest
import torch

from samhq_train.inference.video.concept_video import ConceptVideoSettings, MaskletState, plan_frame
from samhq_train.inference.video.concept_video.planning_buffer import HotstartBuffer, PlannedFrame
from samhq_train.inference.video.concept_video.planning_outputs import (
    frame_masks,
    postprocess_frame,
)
from tests.inference.video.concept_video.meta_planning import (
    MetaFrameRunner,
    box_logits,
    empty_batch_hole_fill,
    random_box,
)
from tests.inference.video.concept_video.planning_world import World

VIDEO_HW = (40, 48)
SCALED = dict(
    hotstart_delay=4, hotstart_unmatch_thresh=2, hotstart_dup_thresh=2, init_trk_keep_alive=2,
    max_trk_keep_alive=3, recondition_every_nth_frame=3,
    suppress_overlapping_based_on_recent_occlusion_threshold=0.3,
    suppress_unmatched_only_within_hotstart=False,
)
SETTINGS = {
    "shipped": ConceptVideoSettings(),
    "scaled": ConceptVideoSettings(**SCALED),
    "confirm": ConceptVideoSettings(**SCALED, masklet_confirmation_enable=True),
    "no-hotstart": ConceptVideoSettings(  # hidden: the keep-alive rule's ids only
        hotstart_delay=0, hotstart_unmatch_thresh=0, hotstart_dup_thresh=0,
        recondition_every_nth_frame=0, init_trk_keep_alive=2, max_trk_keep_alive=3,
        suppress_unmatched_only_within_hotstart=False,
    ),
}


@pytest.fixture(autouse=True)
def no_pinned_memory(monkeypatch):
    """Meta's _postprocess_output pins an index tensor (CUDA only); here it stays as it is."""
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda self, *args, **kwargs: self)


def assert_output_equal(ours, meta):
    np.testing.assert_array_equal(ours.obj_ids, meta["out_obj_ids"])
    np.testing.assert_array_equal(ours.probs, meta["out_probs"])
    np.testing.assert_allclose(ours.boxes_xywh, meta["out_boxes_xywh"], rtol=0, atol=1e-7)
    np.testing.assert_array_equal(ours.masks, meta["out_binary_masks"])
    assert ours.obj_ids.dtype == meta["out_obj_ids"].dtype
    assert ours.masks.dtype == meta["out_binary_masks"].dtype


@pytest.mark.parametrize("seed", range(4))
def test_postprocess_frame_equals_metas(seed):
    rng = np.random.default_rng(seed)
    ids = [int(i) for i in rng.choice(30, size=7, replace=False)]
    boxes = [random_box(32, rng, 6, 16) for _ in range(5)] + [None, random_box(32, rng)]
    masks = box_logits(boxes, 32, rng)[:, None] > 0
    obj_id_to_mask = dict(zip(ids, masks))
    scores = {i: float(rng.random()) for i in ids}
    tracker = {i: float(rng.random()) for i in ids[1:]}  # the first has none: probability 0
    hidden = [ids[2], 99]
    meta = MetaFrameRunner(SETTINGS["shipped"], (32, 32)).model._postprocess_output(
        {"orig_height": 32, "orig_width": 32},
        {"obj_id_to_mask": obj_id_to_mask, "obj_id_to_score": scores,
         "obj_id_to_tracker_score": tracker},
        removed_obj_ids={99}, suppressed_obj_ids={ids[2]}, unconfirmed_obj_ids=[],
    )
    ours = postprocess_frame(obj_id_to_mask, scores, tracker, 32, 32, hidden)
    assert_output_equal(ours, meta)
    assert len(ours.obj_ids) == 5  # the empty and the hidden mask left out
    empty = postprocess_frame({}, {}, {}, 32, 32)
    assert empty.masks.shape == (0, 32, 32) and empty.boxes_xywh.shape == (0, 4)


def meta_propagation(settings, world, start, reverse):
    """Meta's propagate_in_video outputs [(frame, out)] and each frame's inputs."""
    runner = MetaFrameRunner(settings, VIDEO_HW)
    model, inputs = runner.model, {}
    planning = model.run_tracker_update_planning_phase

    def detection(frame_idx, **_):
        detections, sources = world.detections(frame_idx)
        inputs[frame_idx] = [detections, sources]
        return {"bbox": detections.boxes_xyxy, "mask": detections.mask_logits,
                "scores": detections.scores}

    def propagation(frame_idx, tracker_metadata_prev, **_):
        masks, scores = world.tracker_outputs(frame_idx, tracker_metadata_prev["obj_ids_all_gpu"])
        inputs[frame_idx] += [masks.clone(), scores.clone()]
        return masks, scores

    def planning_then_add(**kwargs):
        plan, metadata = planning(**kwargs)
        sources = inputs[kwargs["frame_idx"]][1]
        world.add_objects(plan["new_det_obj_ids"], plan["new_det_fa_inds"], sources)
        return plan, metadata

    model.run_backbone_and_detection = detection
    model.run_tracker_propagation = propagation
    model.run_tracker_update_planning_phase = planning_then_add
    t = world.num_frames
    state = {
        "num_frames": t, "orig_height": VIDEO_HW[0], "orig_width": VIDEO_HW[1],
        "input_batch": None, "tracker_inference_states": [], "tracker_metadata": {},
        "feature_cache": {}, "cached_frame_outputs": {}, "text_prompt": "a thing",
        "per_frame_geometric_prompt": [None] * t, "constants": {"empty_geometric_prompt": None},
        "previous_stages_out": [None] * t, "is_image_only": False,
    }
    with empty_batch_hole_fill():
        outs = list(model.propagate_in_video(state, start_frame_idx=start, reverse=reverse))
    return outs, inputs


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("name", SETTINGS)
def test_shown_outputs_equal_metas_propagation(name, reverse):
    settings, num_frames, seen = SETTINGS[name], 16, Counter()
    for seed in range(2):
        start = num_frames - 1 if reverse else 0
        meta_outs, inputs = meta_propagation(
            settings, World(np.random.default_rng(seed), num_frames), start, reverse
        )
        order = range(start - 1, -1, -1) if reverse else range(num_frames)
        end = 0 if reverse else num_frames - 1
        buffer = HotstartBuffer(settings, num_frames, end, reverse, *VIDEO_HW)
        state, ours, planned = MaskletState.initial(settings), [], {}
        for frame in order:
            detections, _, masks, scores = inputs[frame]
            plan, state = plan_frame(settings, state, frame, num_frames, reverse, detections,
                                     masks, scores)
            shown = frame_masks(settings, plan, detections, *VIDEO_HW)
            planned[frame] = PlannedFrame.of(frame, shown, state)
            ours += buffer.push(planned[frame])
        assert [f for f, _ in ours] == [f for f, _ in meta_outs] == list(order)
        for (frame, out), (_, meta) in zip(ours, meta_outs):
            assert_output_equal(out, meta)
            seen["shown"] += len(out.obj_ids)
            seen["hidden"] += len(planned[frame].output(*VIDEO_HW).obj_ids) - len(out.obj_ids)
        seen["removed"] += len(state.removed_ids)
        seen["unconfirmed"] += len(state.unconfirmed_obj_ids())
    print(name, reverse, dict(seen))
    assert seen["shown"] > 0 and seen["hidden"] > 0
    if name in ("scaled", "confirm"):
        assert seen["removed"] > 0
