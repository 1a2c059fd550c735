"""Clicks on the video concept model's objects (ConceptVideoSession.add_points / remove_object and
the propagations after them) against Meta's Sam3VideoInferenceWithInstanceInteractivity on the
CPU miniature, driven as its playground drives it: a text prompt on frame 4, propagation forward
and in reverse (detect and track); then a click refining the largest object shown on frame 3
(one point in it, one outside), a click adding an object on frame 6, the removal of another
tracked object; propagation forward and in reverse from frame 3 (only the clicked objects'
groups tracked) and once more forward (the masks shown are served again).
Compared: every output (object ids, scores, masks at video size), every frame's output right
after the removal (ours: shown_output; Meta's: its fetch of that frame), the tracker's logits of
each click (video size) and of the clicked objects on every frame tracked after the clicks
(low-res, hole-filled), the tracker scores per frame at the end. Plain SAM 3 and HQ-SAM 3 (Meta's
tracker with our HQ decoder), the settings of test_session_meta.py."""

import numpy as np
import pytest
import torch

from samhq_train.inference.video.concept_video.planning_masks import fill_holes_and_sprinkles
from samhq_train.inference.video.concept_video.session import ConceptVideoSession
from samhq_train.model.sam2.tracking_state import FrameFeatures

from .conftest import build_pair
from .meta_video import cpu_patches, meta_video_state
from .test_session_meta import SETTINGS, TEXT, count_flips

PROMPT_FRAME, REFINE_FRAME, ADD_FRAME = 4, 3, 6
NEW_OBJECT_POINT = (73, 35)  # x, y: on the bright square of frame 6


def refine_clicks(out: dict) -> tuple[int, list, list]:
    """(the largest shown object, [a pixel of it nearest its centre, a pixel outside it], [1, 0])
    from an output of Meta's (x y video pixels)."""
    areas = out["out_binary_masks"].sum(axis=(1, 2))
    assert len(areas) and areas.max() > 0, "no object shown to click on"
    mask = out["out_binary_masks"][int(areas.argmax())]
    ys, xs = np.nonzero(mask)
    inside = int(np.argmin((ys - ys.mean()) ** 2 + (xs - xs.mean()) ** 2))
    out_ys, out_xs = np.nonzero(~mask)
    return int(out["out_obj_ids"][int(areas.argmax())]), [
        [int(xs[inside]), int(ys[inside])], [int(out_xs[0]), int(out_ys[0])]
    ], [1, 0]


def run_meta(meta, frames, video_hw):
    """The playground's session on Meta's model: (shown [(frame, outputs)], the click
    logits {obj id: 1 x H x W}, tracked {(frame, obj id): low-res logits}, the actions taken,
    the tracker scores per frame)."""
    h, w = video_hw
    clicks, tracked = {}, {}
    add_new_points = meta.tracker.add_new_points

    def click_spy(**kwargs):
        result = add_new_points(**kwargs)
        clicks[kwargs["obj_id"]] = result[3][result[1].index(kwargs["obj_id"])].clone()
        return result

    propagate_one = meta._propogate_tracker_one_frame_local_gpu

    def track_spy(states, frame_idx, reverse, run_mem_encoder=False):
        ids, masks, scores = propagate_one(states, frame_idx, reverse, run_mem_encoder)
        if run_mem_encoder:  # after the clicks
            tracked.update({(frame_idx, i): m.clone() for i, m in zip(ids, masks)})
        return ids, masks, scores

    features = {}
    detect = meta.run_backbone_and_detection

    def features_spy(**kwargs):
        result = detect(**kwargs)
        frame = kwargs["frame_idx"]
        cached = kwargs["feature_cache"][frame][1]["tracker_backbone_out"]
        fpn = cached["backbone_fpn"]
        features[frame] = FrameFeatures(fpn[2], cached["vision_pos_enc"][2], (fpn[0], fpn[1]))
        return result

    meta.tracker.add_new_points = click_spy
    meta._propogate_tracker_one_frame_local_gpu = track_spy
    meta.run_backbone_and_detection = features_spy
    state = meta_video_state(meta, frames, video_hw)
    shown = [meta.add_prompt(state, frame_idx=PROMPT_FRAME, text_str=TEXT)]
    for reverse in (False, True):  # no start frame: Meta's default, as ours
        shown += list(meta.propagate_in_video(state, None, None, reverse))
    refined, points, labels = refine_clicks(dict(shown)[REFINE_FRAME])
    new_id = state["tracker_metadata"]["max_obj_id"] + 1
    tracked_ids = state["tracker_metadata"]["obj_ids_all_gpu"].tolist()
    others = [i for i in tracked_ids if i != refined]
    assert others, "no second tracked object to remove"
    actions = [
        (REFINE_FRAME, refined, points, labels), (ADD_FRAME, new_id, [NEW_OBJECT_POINT], [1]),
    ]
    for frame, obj_id, pts, lbls in actions:
        rel = (np.array(pts, np.float64) / [w, h]).tolist()
        shown.append(meta.add_prompt(
            state, frame_idx=frame, points=rel, point_labels=lbls, obj_id=obj_id
        ))
    meta.remove_object(state, others[-1], is_user_action=True)
    now = {f: meta_fetch(meta, state, f) for f in sorted(state["cached_frame_outputs"])}
    for reverse in (False, True, False):
        shown += list(meta.propagate_in_video(state, REFINE_FRAME, None, reverse))
    scores = state["tracker_metadata"]["obj_id_to_tracker_score_frame_wise"]
    return shown + sorted(now.items()), clicks, tracked, (actions, others[-1]), scores, features


def meta_fetch(meta, state, frame: int) -> dict:
    """Meta's output of one frame in a propagation_fetch (propagate_in_video's fetch branch)."""
    metadata = state["tracker_metadata"]
    out = {
        "obj_id_to_mask": state["cached_frame_outputs"].get(frame, {}),
        "obj_id_to_score": metadata["obj_id_to_score"],
        "obj_id_to_tracker_score": metadata["obj_id_to_tracker_score_frame_wise"][frame],
    }
    suppressed = metadata["rank0_metadata"]["suppressed_obj_ids"][frame]
    return meta._postprocess_output(state, out, suppressed_obj_ids=suppressed)


def run_ours(session: ConceptVideoSession, actions, removed, features):
    """As run_meta, our tracker given Meta's features of each frame (its own bf16 rounding
    flips a last bit here and there: test_session_meta.py runs on them)."""
    clicks, tracked = {}, {}
    tracker = session.tracker
    add_points, propagate_one = tracker.add_points, tracker.propagate_one
    encode = tracker._encode_tracker_features

    def meta_features(frame):
        trunk_map = encode(frame)
        tracker._cached = (frame, features[frame])
        return trunk_map

    tracker._encode_tracker_features = meta_features

    def click_spy(frame, obj_id, *args):
        clicks[obj_id] = add_points(frame, obj_id, *args)
        return clicks[obj_id]

    def track_spy(frame, reverse, obj_ids=None, encode_memory=False):
        ids, masks, scores = propagate_one(frame, reverse, obj_ids, encode_memory)
        if encode_memory:
            filled = fill_holes_and_sprinkles(masks[:, None], SETTINGS.fill_hole_area)[:, 0]
            tracked.update({(frame, int(i)): m for i, m in zip(ids, filled)})
        return ids, masks, scores

    tracker.add_points, tracker.propagate_one = click_spy, track_spy
    shown = [(PROMPT_FRAME, session.add_prompt(PROMPT_FRAME, TEXT))]
    for reverse in (False, True):
        shown += list(session.propagate(reverse))
    for frame, obj_id, points, labels in actions:
        shown.append((frame, session.add_points(frame, obj_id, points, labels)))
    session.remove_object(removed)
    now = [(f, session.shown_output(f)) for f in sorted(session.shown.frames)]
    for reverse in (False, True, False):
        shown += list(session.propagate(reverse, start_frame=REFINE_FRAME))
    return shown + now, clicks, tracked


def max_diff(theirs: dict, mine: dict) -> float:
    assert sorted(theirs) == sorted(mine)
    return max((float((theirs[k] - mine[k]).abs().max()) for k in theirs), default=0.0)


def memories_read_in_fp32(monkeypatch) -> None:
    """Meta's tracker reads its bf16-stored memories with .cuda() into a CUDA autocast; here in
    fp32, as our tracker reads them (else a frame whose memory holds no object pointer, e.g.
    tracked forward towards a later click, feeds attention bf16 alone)."""
    monkeypatch.setattr(
        torch.Tensor, "cuda",
        lambda self, *args, **kwargs: self.float() if self.dtype == torch.bfloat16 else self,
    )


@pytest.mark.parametrize("use_hq", [False, True], ids=["sam3", "hq-sam3"])
def test_clicks_equal_meta_instance_interactivity(concept_video, use_hq, monkeypatch):
    cpu_patches(monkeypatch)
    memories_read_in_fp32(monkeypatch)
    meta, model, _ = build_pair(concept_video, SETTINGS.meta_kwargs(), use_hq, interactive=True)
    session = ConceptVideoSession(model, concept_video[1], SETTINGS, use_hq=use_hq)
    session.set_video(concept_video[3])
    with torch.inference_mode():
        frames, video_hw = session.tracker.frames, session.tracker.video_size
        their_shown, their_clicks, their_tracked, script, their_scores, features = run_meta(
            meta, frames, video_hw
        )
        my_shown, my_clicks, my_tracked = run_ours(session, *script, features)
    assert [f for f, _ in my_shown] == [f for f, _ in their_shown]
    flips, objects, worst_score = 0, 0, 0.0
    for (frame, theirs), (_, mine) in zip(their_shown, my_shown):
        assert mine.obj_ids.tolist() == theirs["out_obj_ids"].tolist(), frame
        worst_score = max([worst_score, *np.abs(mine.probs - theirs["out_probs"]).tolist()])
        flips += count_flips(theirs["out_binary_masks"], mine.masks)
        objects += len(mine.obj_ids)
    click_diff = max_diff(their_clicks, my_clicks)
    (_, refined, _, _), (_, new_id, _, _) = script[0]
    clicked = {key for key in their_tracked if key[1] in (refined, new_id)}
    tracked_diff = max_diff(
        {k: their_tracked[k] for k in clicked}, {k: my_tracked[k] for k in clicked}
    )
    # the clicked objects' group mates are tracked along (not shown: their masks stay): where
    # two of them are near duplicates, float noise (1e-8) decides which keeps a pixel in the
    # non-overlap rule of the click's memory encoding, and their logits part by about 1e-5
    mates_diff = max_diff(their_tracked, my_tracked)
    assert sorted(their_scores) == sorted(session.state.tracker_scores)
    tracker_score_diff = max(
        max_diff({k: torch.tensor(v) for k, v in their_scores[f].items()},
                 {k: torch.tensor(v) for k, v in session.state.tracker_scores[f].items()})
        for f in their_scores
    )
    print(f"clicks ({'hq' if use_hq else 'sam3'}): {len(my_shown)} outputs, {objects} objects "
          f"shown, {flips} flipped pixels, max |score diff| {worst_score:.1e}; refined {refined}, "
          f"added {new_id}, removed {script[1]}; click logits max diff {click_diff:.1e}, "
          f"{len(clicked)} masks of theirs tracked after the clicks max diff "
          f"{tracked_diff:.1e} (with their group mates': {len(my_tracked)}, {mates_diff:.1e}), "
          f"tracker scores max diff {tracker_score_diff:.1e}")
    assert len(clicked) == 2 * session.num_frames and objects >= 20
    assert worst_score <= 1e-6 and tracker_score_diff <= 1e-5
    assert click_diff <= 1e-5 and tracked_diff <= 1e-5
    assert flips == 0
