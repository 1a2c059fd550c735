"""An exemplar box in the video concept model's prompt (ConceptVideoSession.add_prompt(frame, text,
boxes=...)) against Meta's Sam3VideoInference.add_prompt(boxes_xywh=..., box_labels=...) on the
CPU miniature: a box-only prompt and a text + box prompt on the bright square of frame 3,
propagation forward, then in reverse (test_session_meta.py's settings with lower detection
thresholds and no hotstart delay: the box-only prompt's objects, detected on its frame alone,
would be removed as unmatched and never shown). The box reaches the
detection of the prompt frame and, through Meta's detector buffer, of the frame after it
(box_prompt.py); a box-only prompt keeps no detection elsewhere.
Compared as test_session_meta.py compares the text prompt: on every processed frame the objects
tracked and their masks, on every shown frame the object ids, scores (1e-5) and masks (at most 2
pixels flipped)."""

import re
from dataclasses import replace

import pytest
import torch

from samhq_train.inference.video.concept_video.session import ConceptVideoSession
from samhq_train.inference.video.point_prompts import VideoPromptError

from .conftest import build_pair, load_ours
from .meta_video import cpu_patches, meta_video_state
from .test_session_meta import SETTINGS, TEXT, compare_runs

PROMPT_FRAME = 3
BOX = (34.0, 20.0, 64.0, 50.0)  # x0 y0 x1 y1: the bright square on frame 3
BOX_SETTINGS = replace(
    SETTINGS, score_threshold_detection=0.6, new_det_thresh=0.65, hotstart_delay=0,
    hotstart_unmatch_thresh=0, hotstart_dup_thresh=0,
)
PROMPTS = {"box": (None, [1]), "text+box": (TEXT, [1])}  # (text, box labels)


def spy_steps(model, name: str, frame_of, masks_of) -> list:
    """[(frame, {obj id: bool H x W mask})] of each frame the model processes."""
    steps, step = [], getattr(model, name)

    def spy(*args, **kwargs):
        result = step(*args, **kwargs)
        steps.append((frame_of(args, kwargs), masks_of(result)))
        return result

    setattr(model, name, spy)
    return steps


def run_meta(meta, frames, video_hw, text, labels):
    steps = spy_steps(
        meta, "_det_track_one_frame", lambda _, kw: kw["frame_idx"],
        lambda result: {int(k): v[0].clone() for k, v in result[0].items()},
    )
    h, w = video_hw
    x0, y0, x1, y1 = BOX
    state = meta_video_state(meta, frames, video_hw)
    shown = [meta.add_prompt(
        state, frame_idx=PROMPT_FRAME, text_str=text,
        boxes_xywh=[[x0 / w, y0 / h, (x1 - x0) / w, (y1 - y0) / h]], box_labels=labels,
    )]
    for reverse in (False, True):
        shown += list(meta.propagate_in_video(state, None, None, reverse))
    return steps, shown


def run_ours(session: ConceptVideoSession, text, labels):
    steps = spy_steps(
        session, "_step", lambda args, _: args[0],
        lambda result: {int(k): v[0].clone() for k, v in result.obj_id_to_mask.items()},
    )
    shown = [(PROMPT_FRAME, session.add_prompt(PROMPT_FRAME, text, [BOX], labels))]
    for reverse in (False, True):
        shown += list(session.propagate(reverse))
    return steps, shown


@pytest.mark.parametrize("prompt", list(PROMPTS))
def test_box_prompt_equals_meta_video_inference(concept_video, prompt, monkeypatch):
    cpu_patches(monkeypatch)
    text, labels = PROMPTS[prompt]
    meta, model, _ = build_pair(concept_video, BOX_SETTINGS.meta_kwargs(), use_hq=False)
    session = ConceptVideoSession(model, concept_video[1], BOX_SETTINGS, use_hq=False)
    session.set_video(concept_video[3])
    with torch.inference_mode():
        tracker = session.tracker
        their_steps, their_shown = run_meta(meta, tracker.frames, tracker.video_size, text, labels)
        my_steps, my_shown = run_ours(session, text, labels)
    flips, objects, shown_objects, worst_score = compare_runs(
        (their_steps, their_shown), (my_steps, my_shown))
    print(f"{prompt}: {len(my_steps)} frames processed, {objects} object masks, "
          f"{shown_objects} objects shown, {flips} flipped pixels, max |score diff| "
          f"{worst_score:.1e}")
    assert shown_objects >= 20, "a trivial comparison"
    assert worst_score <= 1e-5
    assert flips <= 2


@pytest.mark.parametrize(
    "text, boxes, labels, message",
    [
        (None, None, None, "give a text prompt, an exemplar box, or both"),
        (TEXT, [BOX, BOX], [1, 1], "2 boxes: SAM 3's video model takes one box"),
        (None, [BOX], [0], "a counter-example box alone finds nothing"),
        (TEXT, [(100, 20, 130, 50)], None, "lies outside the image of width 128"),
        (TEXT, [(30, 20, 30, 50)], None, "must have x0 < x1"),
        (TEXT, [BOX], [2], "box_labels must be one 1 (example) or 0"),
    ],
)
def test_bad_box_prompts_are_refused(concept_video, text, boxes, labels, message):
    session = ConceptVideoSession(load_ours(concept_video[2]), concept_video[1], use_hq=False)
    session.set_video(concept_video[3])
    with pytest.raises(VideoPromptError, match=re.escape(message)):
        session.add_prompt(PROMPT_FRAME, text, boxes, labels)
    assert session.prompt_frame is None
