"""clear_prompts / remove_object of SAM 3 / HQ-SAM 3 (batched) against Meta's sam3 0.1.4
Sam3TrackerPredictor (clear_all_points_in_frame, remove_object), set up as in
test_parity_sam3_meta.py (same weights, frames, CPU shims, HQ decoder adapter), fp32: every
recorded mask. Its batched rules are the official HQ-SAM 2 predictor's too (the same code).

"three_objects": a clear before tracking on a frame another object still holds (nothing in
memory changes), a clear that leaves a tracked conditioning frame without prompts (tracked again
later), a removed object with a mask prompt, then removals down to one object (Meta's per-object
store rebuilt, then cleared around prompts again). "forget_all": the official rule that a clear
leaving no conditioning frame forgets every object's prompts (before tracking: any clear that
empties its frame); the objects stay, one of them with nothing is removed later. "one_object":
a clear on a frame whose tracked output Meta's per-object store has forgotten (single objects,
clear_non_cond_mem_around_input) shows nothing there; removing the last object resets.
"""

import pytest
import torch

from samhq_train.inference.video import VideoPredictor

from .conftest import VIDEO_HW
from .editing_script import compare, run_ours, run_script
from .test_parity_sam3_meta import MODES, DecoderAdapter, mask_prompt, models  # noqa: F401

pytest.importorskip("sam3")
from tests.model.sam3.meta_tracker import cpu_only  # noqa: E402

ATOL = 1e-5


def click(x, y, label=1):
    return dict(points=[[x, y]], labels=[label])


SCRIPTS = {
    "three_objects": [
        ("add", 2, 1, dict(points=[[30.0, 35.0], [100.0, 80.0]], labels=[1, 0])),
        ("add", 2, 2, dict(box=[70.0, 40.0, 110.0, 80.0])),
        ("add", 2, 3, "mask"),
        ("add", 4, 1, click(60.0, 30.0)),
        ("add", 4, 2, click(90.0, 70.0)),
        ("add", 1, 2, click(92.0, 50.0)),
        ("clear", 4, 2),  # frame 4 still holds object 1's prompt: memory unchanged
        ("propagate", False, True),
        ("clear", 4, 1),  # frames 4 and 1 left without prompts: tracked frames now
        ("clear", 1, 2),
        ("add", 3, 2, click(95.0, 75.0, 0)),
        ("remove", 3),  # (memory selection: frame 1 scored now, chosen when frame 4 is tracked)
        ("from", 3),
        ("propagate", False, True),
        ("add", 4, 2, click(90.0, 65.0)),
        ("remove", 1),
        ("propagate", False, True),
        ("add", 1, 2, click(92.0, 50.0)),
        ("propagate", False),
    ],
    "one_object": [  # Meta's per-object store forgets the frames around a prompted one
        ("add", 0, 7, dict(points=[[30.0, 35.0]], labels=[1])),
        ("add", 3, 7, click(50.0, 30.0)),
        ("propagate", False),  # frames 1 and 2 forgotten there once frame 3 is reached
        ("add", 1, 7, click(40.0, 40.0)),
        ("clear", 1, 7),  # nothing left to show on frame 1
        ("clear", 3, 7),  # a conditioning frame downgraded: the store has its output again
        ("propagate", False),
        ("remove", 7),  # the last object: everything forgotten
    ],
    "forget_all": [
        ("add", 2, 1, dict(points=[[30.0, 35.0]], labels=[1])),
        ("add", 4, 2, click(90.0, 70.0)),
        ("clear", 4, 2),  # nothing in memory yet: every prompt forgotten
        ("add", 3, 1, click(60.0, 30.0)),
        ("propagate", False, True),
        ("remove", 2),
        ("propagate", False),
    ],
}


def as_prompt(prompt):
    return torch.from_numpy(mask_prompt()) if prompt == "mask" else prompt


def run_meta(meta, frames: torch.Tensor, script) -> dict:
    h, w = VIDEO_HW
    state = meta.init_state(
        video_height=h, video_width=w, num_frames=len(frames), offload_state_to_cpu=True
    )
    state["images"] = (frames.permute(0, 3, 1, 2).float() / 255 - 0.5) / 0.5
    scale = torch.tensor([w, h], dtype=torch.float32)

    def add(frame, obj, prompt):
        if prompt == "mask":
            return meta.add_new_mask(state, frame, obj, torch.from_numpy(mask_prompt()))[3]
        points = labels = box = None
        if "points" in prompt:
            points = torch.tensor(prompt["points"]) / scale
            labels = torch.tensor(prompt["labels"], dtype=torch.int32)
        if "box" in prompt:
            box = torch.tensor(prompt["box"]).reshape(2, 2) / scale
        return meta.add_new_points_or_box(state, frame, obj, points, labels, box=box)[3]

    def propagate(start, reverse):
        for frame, ids, _, masks, _ in meta.propagate_in_video(
            state, start, None, reverse, tqdm_disable=True, propagate_preflight=True
        ):
            yield frame, ids, masks

    return run_script(
        script, add, lambda frame, obj: meta.clear_all_points_in_frame(state, frame, obj)[3],
        lambda obj: meta.remove_object(state, obj), propagate,
    )


# every mode on the long script (memory selection: the frames' scores are averaged over the
# objects, so a removal changes them); the bookkeeping-only scripts in one mode
CASES = [(mode, "three_objects") for mode in MODES] + [
    ("sam3", "forget_all"), ("sam3", "one_object")
]


@pytest.mark.parametrize(("mode", "script"), CASES, ids=lambda v: v)
def test_clear_and_remove_match_meta_sam3_tracker(models, video_dir, mode, script, monkeypatch):  # noqa: F811, E501
    meta, ours = models
    use_hq, selection = MODES[mode]
    cpu_only(monkeypatch)
    decoder, track_step = meta.sam_mask_decoder, type(meta).track_step
    steps = [(s[0], *s[1:3], as_prompt(s[3])) if s[0] == "add" else s for s in SCRIPTS[script]]
    try:
        meta.use_memory_selection = selection
        if use_hq:
            meta.sam_mask_decoder = DecoderAdapter(ours.sam_mask_decoder)
        # (Meta 0.1.4's _get_empty_mask_ptr passes two arguments track_step does not take)
        meta.track_step = lambda *args, gt_masks=None, frames_to_add_correction_pt=None, **kw: (
            track_step(meta, *args, **kw)
        )
        with torch.inference_mode():
            predictor = VideoPredictor(
                ours, use_hq=use_hq, memory_dtype=torch.bfloat16, memory_selection=selection
            )
            predictor.set_video(video_dir)
            mine = run_ours(predictor, steps)
            theirs = run_meta(meta, predictor.frames, SCRIPTS[script])
    finally:
        meta.use_memory_selection = False
        meta.sam_mask_decoder = decoder
        del meta.track_step
    worst = compare(theirs, mine, {"three_objects": 20, "forget_all": 5, "one_object": 5}[script])
    print(f"SAM 3 clear / remove ({mode}, {script}) vs Meta: max |diff| {worst:.2e}")
    assert worst <= ATOL
