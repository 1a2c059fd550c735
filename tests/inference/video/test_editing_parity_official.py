"""clear_prompts / remove_object in the default objects="batched" mode against the official
HQ-SAM 2 video predictor itself (SysCV/sam-hq, sam-hq2 at fb181f8, not installable): its outputs
for a script of prompts, clears, removals and propagations are stored in
tests/fixtures/hqsam2_video_edit_official_mini.pt (make_hqsam2_video_edit_fixture.py there), on
the weights and frames of hqsam2_video_official_mini.pt, on the continuous path (fp32 memories,
binarize off; see test_parity_meta.py), no hole filling: every recorded mask at ATOL.

What only this predictor shows (SAM 3's tracker makes every prompted frame a conditioning one):
corrections consolidated as tracked frames that propagation keeps, until a clear leaves their
frame without prompts (then it is tracked again), and a removal that downgrades such a frame.
"""

import ast
import copy
import dataclasses

import numpy as np
import pytest
import torch

from samhq_train.inference.video import VideoPredictor

from .conftest import FIXTURES, VIDEO_HW
from .editing_script import compare, run_ours

FIXTURE = FIXTURES / "hqsam2_video_edit_official_mini.pt"
ATOL = 1e-5


def ours_prompt(prompt: dict):
    if "mask_box" not in prompt:
        return prompt
    x0, y0, x1, y1 = prompt["mask_box"]
    mask = np.zeros(VIDEO_HW, dtype=bool)
    mask[y0:y1, x0:x1] = True
    return mask


def test_clear_and_remove_match_the_official_hq_sam2_predictor(official_model, official_frames):
    fixture = torch.load(FIXTURE, map_location="cpu", weights_only=True)
    assert fixture["weights_checksum"] == pytest.approx(
        float(sum(t.double().abs().sum() for t in official_model.state_dict().values())),
        rel=1e-9,
    ), "weights differ"
    theirs = {ast.literal_eval(k) if k[0] == "(" else int(k): v
              for k, v in fixture["outputs"].items()}
    script = [(s[0], s[1], s[2], ours_prompt(s[3])) if s[0] == "add" else tuple(s)
              for s in fixture["script"]]
    model = copy.copy(official_model)  # (the weights shared; binarize off)
    model.tracking = dataclasses.replace(model.tracking, binarize_mask_from_pts_for_mem_enc=False)
    predictor = VideoPredictor(model, fill_hole_area=0, memory_dtype=torch.float32)
    predictor.set_video(official_frames)
    mine = run_ours(predictor, script)
    worst = compare(theirs, mine, min_present=20)
    print(f"clear / remove, batched hq-sam2 vs the official predictor: max |diff| {worst:.2e}")
    assert worst < ATOL

