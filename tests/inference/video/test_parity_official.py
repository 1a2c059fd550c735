"""Video tracking against the official HQ-SAM 2 video predictor itself (SysCV/sam-hq, sam-hq2 at
fb181f8, not installable): its outputs on the miniature are stored in
tests/fixtures/hqsam2_video_official_mini.pt (made by make_hqsam2_video_fixture.py there). Three
objects prompted on different frames (points, a box, a later click for one object, a mask), so
the official batched rules act: a frame prompted for any object conditions all of them. Forward
from the first prompted frame, then in reverse from frame 3, then correction clicks on two tracked
frames (one tracked in reverse) and forward again; every output at the video's size.

Settings (see test_parity_meta.py for why): the continuous path (fp32 memories, binarize off) at
ATOL, for HQ-SAM 2 and plain SAM 2.1 (the fork's SAM2VideoPredictor); the official settings
(bfloat16 memories, binarized prompt masks) for HQ-SAM 2 at STEP_BOUND. Both sides fill no holes
(the official hole filling needs its CUDA extension).
"""

import copy
import dataclasses

import numpy as np
import pytest
import torch

from samhq_train.inference.video import VideoPredictor

ATOL = 1e-5
STEP_BOUND = 1e-3
DTYPES = {"torch.bfloat16": torch.bfloat16, "torch.float32": torch.float32}


def add_prompts(predictor, prompts, outputs: dict, name: str) -> None:
    h, w = predictor.video_size
    for frame, obj, prompt in prompts:
        if "mask_box" in prompt:
            x0, y0, x1, y1 = prompt["mask_box"]
            mask = np.zeros((h, w), dtype=bool)
            mask[y0:y1, x0:x1] = True
            _, _, masks = predictor.add_mask(frame, obj, mask)
        else:
            _, _, masks = predictor.add_points_or_box(frame, obj, **prompt)
        outputs[f"{name}_{frame}_{obj}"] = masks


def run(model, video_dir, official, *, use_hq: bool, binarize: bool, memory_dtype) -> dict:
    model = copy.copy(model)  # (the weights shared)
    model.tracking = dataclasses.replace(
        model.tracking, binarize_mask_from_pts_for_mem_enc=binarize
    )
    predictor = VideoPredictor(
        model, use_hq=use_hq, objects="batched", fill_hole_area=0, memory_dtype=memory_dtype
    )
    predictor.set_video(video_dir)
    outputs = {}
    add_prompts(predictor, official["prompts"], outputs, "prompt")
    for name, kwargs in (("forward", {}), ("reverse", {"reverse": True, "start_frame": 3})):
        for frame, ids, masks in predictor.propagate(**kwargs):
            outputs[f"{name}_{frame}"] = masks
            outputs["obj_ids"] = ids
    add_prompts(predictor, official["corrections"], outputs, "correction")
    for frame, _, masks in predictor.propagate():
        outputs[f"again_{frame}"] = masks
    return outputs


@pytest.mark.parametrize("setting", ["hq_continuous", "sam2_continuous", "hq_official"])
def test_video_masks_match_official_hq_sam2(official, official_model, official_frames, setting):
    use_hq, binarize, dtype = official["settings"][setting]
    theirs = official["outputs"][setting]
    ours = run(official_model, official_frames, official, use_hq=use_hq, binarize=binarize,
               memory_dtype=DTYPES[dtype])
    assert ours.keys() == theirs.keys()
    assert ours.pop("obj_ids") == theirs["obj_ids"] == [1, 2, 3]
    worst, present, absent = 0.0, 0, 0
    for key, value in ours.items():
        assert value.shape == theirs[key].shape, key
        worst = max(worst, (value - theirs[key]).abs().max().item())
        found = (theirs[key] > 0).flatten(1).any(1)
        present, absent = present + int(found.sum()), absent + int((~found).sum())
    assert present >= 10 and absent >= 3, (present, absent)  # both paths taken
    print(f"{setting}: max |diff| {worst:.2e} ({present} object-frames found, {absent} not)")
    assert worst < (STEP_BOUND if binarize or dtype == "torch.bfloat16" else ATOL)
