"""interaction.next_propagation against Meta's parse_action_history_for_propagation
(Sam3VideoInferenceWithInstanceInteractivity) on random action histories; the session's clicks
refused in one line where Meta's class would fail."""

import random
from dataclasses import replace

import pytest
import torch

from samhq_train.inference.video.concept_video.interaction import (
    ADD,
    FETCH,
    FULL,
    PARTIAL,
    REFINE,
    REMOVE,
    Action,
    next_propagation,
)
from samhq_train.inference.video.concept_video.session import ConceptVideoSession
from samhq_train.inference.video.point_prompts import VideoPromptError

from .conftest import load_ours
from .test_session_meta import SETTINGS, TEXT

sam3_video_inference = pytest.importorskip("sam3.model.sam3_video_inference")
META_KIND = {FULL: "propagation_full", PARTIAL: "propagation_partial", FETCH: "propagation_fetch"}
NUM_FRAMES = 8


def meta_next(history: list[Action]):
    actions = [
        {"type": META_KIND.get(a.kind, a.kind), "frame_idx": a.frame,
         "obj_ids": list(a.obj_ids) if a.obj_ids or a.kind in (ADD, REFINE, REMOVE) else None}
        for a in history
    ]
    state = {"action_history": actions, "num_frames": NUM_FRAMES}
    parse = sam3_video_inference.Sam3VideoInferenceWithInstanceInteractivity
    kind, obj_ids = parse.parse_action_history_for_propagation(None, state)
    return kind, sorted(obj_ids or [])


def test_next_propagation_equals_meta():
    rng = random.Random(0)
    kinds_seen = set()
    for _ in range(400):
        history = []
        for _ in range(rng.randint(0, 8)):
            if rng.random() < 0.5:  # a propagation, as the session records it
                kind, obj_ids = next_propagation(history, NUM_FRAMES)
                frame = rng.choice([None, 0, 3, NUM_FRAMES - 1])
                history.append(Action(kind, frame, obj_ids))
            else:
                action = rng.choice([ADD, REFINE, REMOVE])
                history.append(Action(action, rng.randrange(NUM_FRAMES), (rng.randrange(5),)))
            kind, obj_ids = next_propagation(history, NUM_FRAMES)
            assert (META_KIND[kind], sorted(obj_ids)) == meta_next(history), history
            kinds_seen.add(kind)
    assert kinds_seen == {FULL, PARTIAL, FETCH}


def test_clicks_refused_in_one_line(concept_video):
    session = ConceptVideoSession(load_ours(concept_video[2]), concept_video[1], SETTINGS)
    session.set_video(concept_video[3])
    with pytest.raises(VideoPromptError, match="has no output to click on yet"):
        session.add_points(1, 0, [[10, 10]], [1])
    with pytest.raises(VideoPromptError, match="frame 1 has no output yet: add_prompt"):
        session.shown_output(1)
    with torch.inference_mode():
        session.add_prompt(2, TEXT)
    with pytest.raises(VideoPromptError, match="frame 3 has no output to click on yet"):
        session.add_points(3, 0, [[10, 10]], [1])
    with pytest.raises(VideoPromptError, match="frame 3 has no output yet: add_prompt"):
        session.shown_output(3)
    with pytest.raises(VideoPromptError, match=r"points are K x 2"):
        session.add_points(2, 0, [10, 10], [1])
    with pytest.raises(VideoPromptError, match="one label per point"):
        session.add_points(2, 0, [[10, 10]], [1, 0])
    with pytest.raises(VideoPromptError, match="object 99 is not tracked"):
        session.remove_object(99)
    assert session.history == []  # nothing refused was recorded
    with pytest.raises(VideoPromptError, match="object id -1: ids are integers >= 0"):
        session.add_points(2, -1, [[10, 10]], [1])
    assert session.history == []  # nothing refused was recorded
    session.add_points(2, 50, [[10, 10]], [1])
    assert session.obj_ids[-1] == 50 and session.history[-1] == Action(ADD, 2, (50,))
    # the click's object is tracked on from frame 2, which is all the text's run has shown
    with pytest.raises(VideoPromptError, match="frame 3 has no output yet to track the clicked"):
        next(session.propagate())
    history = list(session.history)
    session.settings = replace(SETTINGS, max_num_objects=len(session.obj_ids))
    with pytest.raises(VideoPromptError, match=r"object 51 is new, but \d+ objects are tracked"):
        session.add_points(2, 51, [[20, 20]], [1])
    session.add_points(2, 50, [[20, 20]], [1])  # refining one is not limited
    assert session.history == history + [Action(REFINE, 2, (50,))]
