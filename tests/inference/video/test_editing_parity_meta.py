"""clear_prompts / remove_object in objects="independent" mode against Meta's sam2 1.1.0
SAM2VideoPredictor (clear_all_prompts_in_frame, remove_object), same random weights, frames and
steps, fp32 on the continuous path (see test_parity_meta.py for why): every recorded mask.

The script clears a prompt before tracking, clears a conditioning frame after tracking (it stays
as a tracked frame and is tracked again), clears a correction, removes tracked objects (one
with a correction not yet in memory) and finally the last but one; forward and reverse. A new
object prompted on a frame where another has a correction not yet in memory: the masks returned
hold that object's stored output (Meta's consolidation takes the new outputs of one kind only).
"""

import warnings

import numpy as np
import pytest
import torch

from samhq_train.inference.video import VideoPredictor, VideoPromptError

from .editing_script import compare, run_ours, run_script

pytest.importorskip("sam2")
from .test_parity_meta import (  # noqa: E402
    continuous,
    fp32_memory_in_meta,  # noqa: F401 (a fixture)
    meta_predictor,
    ours,  # noqa: F401 (a fixture)
)

ATOL = 1e-5


def click(x, y, label=1):
    return dict(points=[[x, y]], labels=[label])


SCRIPT = [
    ("add", 2, 1, dict(points=[[30.0, 35.0], [100.0, 80.0]], labels=[1, 0])),
    ("add", 2, 2, dict(box=[70.0, 40.0, 110.0, 80.0])),
    ("add", 5, 1, click(70.0, 30.0)),
    ("add", 4, 2, click(90.0, 70.0)),
    ("add", 1, 3, click(95.0, 40.0)),
    ("clear", 4, 2),  # before tracking: its output forgotten
    ("propagate", False, True),
    ("clear", 5, 1),  # a conditioning frame, tracked: tracked again below
    ("add", 3, 2, click(95.0, 75.0, 0)),  # a correction
    ("add", 3, 4, click(20.0, 60.0)),  # a new object there: its output shows 2's stored one
    ("add", 4, 3, click(60.0, 60.0)),  # a correction of the object removed next
    ("remove", 3),
    ("propagate", False),
    ("clear", 3, 2),  # the correction, now in memory
    ("remove", 1),
    ("propagate", False, True),
    ("clear", 2, 2),  # its only conditioning frame: a click there conditions again
    ("add", 2, 2, click(88.0, 62.0)),
    ("propagate", False),
]


def run_meta(meta, video_dir, script) -> dict:
    def add(frame, obj, prompt):
        kwargs = {k: np.array(v, dtype=np.int32 if k == "labels" else np.float32)
                  for k, v in prompt.items()}
        return meta.add_new_points_or_box(state, frame, obj, **kwargs)[2]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        state = meta.init_state(str(video_dir))
        return run_script(
            script, add, lambda frame, obj: meta.clear_all_prompts_in_frame(state, frame, obj)[2],
            lambda obj: meta.remove_object(state, obj),
            lambda start, reverse: meta.propagate_in_video(state, start, reverse=reverse),
        )


def predictor(model, video_dir) -> VideoPredictor:
    predictor = VideoPredictor(
        model, use_hq=False, objects="independent", fill_hole_area=0, memory_dtype=torch.float32
    )
    predictor.set_video(video_dir)
    return predictor


def test_clear_and_remove_match_meta_predictor(ours, video_dir, fp32_memory_in_meta):  # noqa: F811
    model = continuous(ours)
    theirs = run_meta(meta_predictor(model, hq=False), video_dir, SCRIPT)
    mine = run_ours(predictor(model, video_dir), SCRIPT)
    worst = compare(theirs, mine, min_present=10)
    print(f"clear / remove, independent sam2.1 vs Meta 1.1.0: max |diff| {worst:.2e}")
    assert worst < ATOL


def test_an_object_without_a_conditioning_frame_cannot_propagate(ours, video_dir):  # noqa: F811
    """Meta raises (RuntimeError) once an object's only prompt is cleared; so do we, naming it,
    until it is prompted again."""
    model = continuous(ours)
    mine = predictor(model, video_dir)
    mine.add_points_or_box(2, 1, **click(30.0, 35.0))
    mine.add_points_or_box(2, 2, **click(90.0, 50.0))
    mine.clear_prompts(2, 2)
    with pytest.raises(VideoPromptError, match=r"object 2 has no prompt on a frame it was not "
                       r"tracked on .* remove_object\(2\)"):
        next(mine.propagate())
    meta = meta_predictor(model, hq=False)
    state = meta.init_state(str(video_dir))
    for obj, xy in ((1, [30.0, 35.0]), (2, [90.0, 50.0])):
        meta.add_new_points_or_box(state, 2, obj, np.array([xy], np.float32), np.array([1]))
    meta.clear_all_prompts_in_frame(state, 2, 2)
    with pytest.raises(RuntimeError, match="object id 2"):
        next(meta.propagate_in_video(state))
    mine.add_points_or_box(3, 2, **click(90.0, 55.0))
    assert len(list(mine.propagate())) == 4


def test_batched_objects_forget_every_prompt_once_no_conditioning_frame_is_left(
    ours, video_dir  # noqa: F811
):
    """The official batched rule (shown against Meta's SAM 3 tracker, the same code, in
    test_editing_parity_sam3_meta.py): before tracking, a clear that leaves its frame without
    prompts forgets object 1's prompt too; the objects stay, new ones may join, and propagation
    needs a prompt again."""
    mine = VideoPredictor(continuous(ours), use_hq=False, fill_hole_area=0)
    mine.set_video(video_dir)
    mine.add_points_or_box(2, 1, **click(30.0, 35.0))
    mine.add_points_or_box(4, 2, **click(90.0, 70.0))
    _, ids, masks = mine.clear_prompts(4, 2)
    assert ids == [1, 2] and (masks == -1024.0).all()
    with pytest.raises(VideoPromptError, match="no prompt is left"):
        next(mine.propagate())
    mine.add_points_or_box(2, 1, **click(30.0, 35.0))
    list(mine.propagate())
    with pytest.raises(VideoPromptError, match="object 3 is new after propagation"):
        mine.add_points_or_box(2, 3, **click(60.0, 60.0))
    assert mine.remove_object(2) == ([1], [])
    with pytest.raises(VideoPromptError, match="object 9 does not exist"):
        mine.remove_object(9, strict=True)
    assert mine.remove_object(9) == ([1], [])
    with pytest.raises(VideoPromptError, match="object 9 has no prompts to clear"):
        mine.clear_prompts(2, 9)
    with pytest.raises(VideoPromptError, match="frame 6 does not exist"):
        mine.clear_prompts(6, 1)
    assert mine.remove_object(1) == ([], []) and not mine.groups
