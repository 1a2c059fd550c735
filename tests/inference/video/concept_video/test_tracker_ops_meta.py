"""The video concept model's tracker operations (tracker_ops.py) against Meta's Sam3VideoBase
methods on the same weights, frames and masks, one operation after another, fp32:
run_backbone_and_detection (the tracker's features; the detector's raw masks feed both sides),
_tracker_add_new_objects (two groups, frames 0 and 2), run_tracker_propagation (every frame),
_tracker_update_memories (with one mask suppressed as occlusion suppression would),
_recondition_masklets (frame 3), _tracker_remove_objects (one object of a two-object group and
a whole group); the propagated masks hole-filled by Meta's function on both sides (the
planning half fills them in the driver). Plain SAM 3 and HQ-SAM 3 (Meta's tracker with our HQ
decoder swapped in)."""

import numpy as np
import pytest
import torch
from sam3.model.sam3_tracker_utils import fill_holes_in_mask_scores

from samhq_train.inference.video.concept_video.tracker_ops import ConceptVideoTracker
from samhq_train.model.sam2.tracking_state import FrameFeatures

from .conftest import NUM_FRAMES, build_pair
from .meta_video import cpu_patches, meta_video_state

TEXT = "a striped cat"


def meta_detect(meta, state, frame):
    """Meta's detector and backbone on the frame (its feature cache filled): det_out."""
    return meta.run_backbone_and_detection(
        frame_idx=frame,
        num_frames=state["num_frames"],
        input_batch=state["input_batch"],
        geometric_prompt=state["constants"]["empty_geometric_prompt"],
        feature_cache=state["feature_cache"],
        reverse=False,
        allow_new_detections=True,
    )


def meta_metadata(states) -> dict:
    ids = np.array([i for s in states for i in s["obj_ids"]], np.int64)
    return {
        "obj_ids_all_gpu": ids, "obj_ids_per_gpu": [ids], "num_obj_per_gpu": np.array([len(ids)])
    }


def meta_fill_holes(masks: torch.Tensor, area: int) -> torch.Tensor:
    if not len(masks):
        return masks
    return fill_holes_in_mask_scores(masks[:, None], area, True, True)[:, 0]


# frame -> the operations after propagation: ("add", obj ids, detection queries),
# ("recondition", {obj id: query}), ("remove", obj ids); memory encoding runs every frame
SCRIPT = {
    0: [("add", [0, 1], [0, 5])],
    2: [("add", [2, 3], [3, 8])],
    3: [("recondition", {1: 7, 2: 3})],
    4: [("remove", [0])],
    6: [("remove", [2, 3])],
}
SUPPRESSED = {1: 0, 5: 1}  # frame -> the object row set to -10 before memory encoding


def use_meta_features(ours: ConceptVideoTracker, state: dict, frame: int) -> None:
    """Our tracker given Meta's features of the frame (its own differ by bf16 rounding flips)."""
    cached = state["feature_cache"][frame][1]["tracker_backbone_out"]
    fpn = cached["backbone_fpn"]
    ours._cached = (frame, FrameFeatures(fpn[2], cached["vision_pos_enc"][2], (fpn[0], fpn[1])))


def run_script(meta, ours: ConceptVideoTracker, frames, video_hw, meta_features: bool):
    state = meta_video_state(meta, frames, video_hw)
    state["input_batch"].find_text_batch[0] = TEXT
    meta_states, compared = [], []
    for frame in range(NUM_FRAMES):
        det = meta_detect(meta, state, frame)
        ours.encode_frame(frame)
        if meta_features:
            use_meta_features(ours, state, frame)
        meta_meta = meta_metadata(meta_states)
        theirs, their_scores = meta.run_tracker_propagation(
            frame_idx=frame, num_frames=NUM_FRAMES, reverse=False,
            tracker_states_local=meta_states, tracker_metadata_prev=meta_meta,
        )
        ids, mine, my_scores = ours.propagate_one(frame, False)
        mine = meta_fill_holes(mine, meta.fill_hole_area)  # the planning's part (Meta fills here)
        assert ids.tolist() == meta_meta["obj_ids_all_gpu"].tolist(), frame
        compared.append((frame, theirs.clone(), mine, their_scores, my_scores))
        for op, *args in SCRIPT.get(frame, []):
            if op == "recondition":
                meta._recondition_masklets(
                    frame, det, args[0], meta_states, meta_meta, their_scores
                )
                ours.recondition(frame, args[0], det["mask"])
        if frame in SUPPRESSED:
            theirs[SUPPRESSED[frame]] = -10.0
            mine = mine.clone()
            mine[SUPPRESSED[frame]] = -10.0
        if len(ids):
            meta._tracker_update_memories(meta_states, frame, meta_meta, theirs)
            ours.update_memories(frame, mine)
        for op, *args in SCRIPT.get(frame, []):
            if op == "add":
                obj_ids, queries = args
                masks = det["mask"][queries]
                meta._tracker_add_new_objects(
                    frame, NUM_FRAMES, np.array(obj_ids), masks, meta_states,
                    video_hw[0], video_hw[1], state["feature_cache"],
                )
                ours.add_objects(frame, obj_ids, masks)
            elif op == "remove":
                meta._tracker_remove_objects(meta_states, args[0])
                ours.remove_objects(args[0])
    return compared


# (features, tolerance, share of low-res pixels allowed past it): Meta's features (the
# operations alone: every pixel), our own encoding (its bf16 rounding of the backbone maps flips
# a last bit where the two trunks differ by float rounding; where such a flip moves a logit
# across 0, hole filling turns a pixel's logit into 0.1 on one side only)
FEATURES = {"meta-features": (True, 1e-5, 0.0), "own-features": (False, 2e-4, 1e-3)}


@pytest.mark.parametrize("features", list(FEATURES))
@pytest.mark.parametrize("use_hq", [False, True], ids=["sam3", "hq-sam3"])
def test_tracker_operations_equal_meta(concept_video, use_hq, features, monkeypatch):
    meta_features, atol, share = FEATURES[features]
    cpu_patches(monkeypatch)
    settings = dict(score_threshold_detection=0.0, det_nms_thresh=0.0)
    meta, model, detector = build_pair(concept_video, settings, use_hq)
    ours = ConceptVideoTracker(model, detector, use_hq=use_hq)
    ours.set_video(concept_video[3])
    with torch.inference_mode():
        compared = run_script(meta, ours, ours.frames, ours.video_size, meta_features)
    worst, worst_score, present, tracked, past, pixels = 0.0, 0.0, 0, 0, 0, 0
    for frame, theirs, mine, their_scores, my_scores in compared:
        assert theirs.shape == mine.shape, frame
        if not len(theirs):
            continue
        worst = max(worst, (theirs - mine).abs().max().item())
        past += int(((theirs - mine).abs() > atol).sum())
        pixels += theirs.numel()
        worst_score = max(worst_score, (their_scores - my_scores).abs().max().item())
        present += int((theirs > 0).any(dim=(1, 2)).sum())
        tracked += len(theirs)
    print(f"tracker ops ({'hq' if use_hq else 'sam3'}, {features}): {tracked} object-frames, "
          f"{present} present, max |diff| masks {worst:.2e} ({past} of {pixels} pixels past "
          f"{atol:g}) scores {worst_score:.2e}")
    assert tracked == 2 + 2 + 4 + 4 + 3 + 3 + 1  # frames 1..7 (frame 0 has none)
    assert present >= tracked // 2, "objects mostly absent: a trivial comparison"
    assert past <= share * pixels and worst_score <= atol
