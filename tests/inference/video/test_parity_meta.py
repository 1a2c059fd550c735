"""Video tracking against Meta's sam2 1.1.0 SAM2VideoPredictor, same random weights, same JPEG
frames and prompts, fp32: every frame's mask logits at the video's size, forward and reverse.

Plain SAM 2.1: Meta's predictor as build_sam2_video_predictor makes it (binarized point masks in
memory, dynamic multimask), except fill_hole_area=0 on both sides: Meta's hole filling needs its
CUDA extension and, without it, is skipped with a warning (what it does here); our fill_holes is
tested on its own (test_predictor.py).

HQ-SAM 2: the official HQ-SAM 2 video code (SysCV/sam-hq, sam-hq2 at fb181f8) is Meta's SAM 2
code with one change: SAM2HQBase builds MaskDecoderHQ instead of MaskDecoder (sam2_hq_base.py
differs from the fork's sam2_base.py only there; sam2_hq_video_predictor.py from its
sam2_video_predictor.py only in the base class) and calls it with hq_token_only=False. Our
MaskDecoderHQ equals the official one on the fixture hqsam2_official_mini.pt (tests/model/sam2/
test_parity.py, hq_token_only=False included), so the reference here is Meta's predictor with
its sam_mask_decoder swapped for an adapter that runs our MaskDecoderHQ that way.

Two steps of the official predictor are discontinuous: binarize_mask_from_pts_for_mem_enc turns a
prompted frame's mask logits into 0 / 1 at 0 for the memory, and memories are stored in bfloat16.
Where a value sits within fp32 rounding of such a step (any reordering of fp32 sums, our RoPE in
real arithmetic, a fused LayerNorm, moves the last bits), one mask pixel or one bf16 rounding
flips and a later frame's logits move by up to ~1e-4. So parity proper is shown on the
continuous path: fp32 memories on both sides (Meta's predictor module sees torch.bfloat16 as
float32) and binarize off, at ATOL. The official settings (both on) are compared with the official
HQ-SAM 2 predictor's own outputs in test_parity_official.py.

The fork's video predictor is the batched one of the SAM 2.1 release, Meta 1.1.0's tracks each
object on its own. They agree where every prompted frame holds a prompt for every object: there
the "batched" mode (the fork's) is compared; with a click for one object only on a later frame, and
a correction click after propagation (whose handling differs too), the "independent" mode (Meta
1.1.0's) is.
"""

import dataclasses
import types
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from samhq_train.inference.video import VideoPredictor
from samhq_train.model import build_sam_hq, without_hq
from tests.reference import randomize_

from .conftest import VIDEO_HW
from .meta_features import keep_every_frames_features

pytest.importorskip("sam2")
# (tests/conftest.py undoes the Hydra set-up that importing sam2 makes)
import sam2.sam2_video_predictor  # noqa: E402
from hydra import initialize_config_module  # noqa: E402
from sam2.build_sam import build_sam2_video_predictor  # noqa: E402

from tests.model.sam2.test_meta_load import META_CONFIG, MINIATURE, VARIANT  # noqa: E402

ATOL = 1e-5
SEED = 1
POINTS_1 = ([[30.0, 35.0], [100.0, 80.0]], [1, 0])  # object 1 on frame 2
BOX_2 = [70.0, 40.0, 110.0, 80.0]  # object 2 on frame 2
CLICK_1 = ([[60.0, 30.0]], [1])  # object 1 on frame 5
CLICK_2 = ([[90.0, 70.0]], [1])  # object 2 on frame 5 (the batched scenario)
CORRECTION = (3, 2, dict(points=[[95.0, 75.0]], labels=[0]))  # after propagation (independent)


class DecoderAdapter(nn.Module):
    """Meta's MaskDecoder call on our MaskDecoderHQ, with the HQ token (hq_token_only=False)."""

    def __init__(self, decoder) -> None:
        super().__init__()
        self.decoder = decoder
        self.conv_s0, self.conv_s1 = decoder.conv_s0, decoder.conv_s1

    def forward(self, *, image_embeddings, image_pe, sparse_prompt_embeddings,
                dense_prompt_embeddings, multimask_output, repeat_image, high_res_features):
        assert not repeat_image
        return tuple(self.decoder(
            image_embeddings=image_embeddings, image_pe=image_pe,
            sparse_prompt_embeddings=sparse_prompt_embeddings,
            dense_prompt_embeddings=dense_prompt_embeddings, high_res_features=high_res_features,
            multimask_output=multimask_output, hq_token_only=False, use_hq=True,
        ))


@pytest.fixture(scope="module")
def ours():
    return randomize_(build_sam_hq(VARIANT, seed=0), seed=SEED).eval()


def continuous(model):
    """The model with binarize_mask_from_pts_for_mem_enc off (a copy sharing the weights)."""
    copy = build_sam_hq(VARIANT)
    copy.load_state_dict(model.state_dict())
    copy.tracking = dataclasses.replace(model.tracking, binarize_mask_from_pts_for_mem_enc=False)
    return copy.eval()


def meta_predictor(ours, hq: bool):
    with initialize_config_module("sam2", version_base="1.2"):
        meta = build_sam2_video_predictor(
            META_CONFIG, device="cpu", hydra_overrides_extra=MINIATURE
        )
    meta.load_state_dict(without_hq(ours.state_dict()), strict=True)
    meta.fill_hole_area = 0
    meta.binarize_mask_from_pts_for_mem_enc = ours.tracking.binarize_mask_from_pts_for_mem_enc
    if hq:
        meta.sam_mask_decoder = DecoderAdapter(ours.sam_mask_decoder)
    keep_every_frames_features(meta)
    return meta.eval()


def prompts(both_on_frame_5: bool):
    steps = [(2, 1, dict(points=POINTS_1[0], labels=POINTS_1[1])), (2, 2, dict(box=BOX_2)),
             (5, 1, dict(points=CLICK_1[0], labels=CLICK_1[1]))]
    if both_on_frame_5:
        steps.append((5, 2, dict(points=CLICK_2[0], labels=CLICK_2[1])))
    return steps


def run_meta(meta, video_dir, steps, corrections=()):
    def add(frame, obj, kwargs):
        if "box" in kwargs:
            kwargs = dict(box=np.array(kwargs["box"], dtype=np.float32))
        else:
            kwargs = dict(points=np.array(kwargs["points"], dtype=np.float32),
                          labels=np.array(kwargs["labels"], dtype=np.int32))
        return meta.add_new_points_or_box(state, frame, obj, **kwargs)[2]

    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        state = meta.init_state(str(video_dir))
        for frame, obj, kwargs in steps:
            out[("prompt", frame, obj)] = add(frame, obj, kwargs)
        for reverse in (False, True):
            for frame, ids, masks in meta.propagate_in_video(state, reverse=reverse):
                out[(reverse, frame)] = (ids, masks)
        for frame, obj, kwargs in corrections:
            out[("prompt", "again", frame, obj)] = add(frame, obj, kwargs)
            for frame, ids, masks in meta.propagate_in_video(state):
                out[("again", frame)] = (ids, masks)
    return out


def run_ours(model, video_dir, steps, objects: str, use_hq: bool, corrections=()):
    predictor = VideoPredictor(
        model, use_hq=use_hq, objects=objects, fill_hole_area=0, memory_dtype=torch.float32
    )
    predictor.set_video(video_dir)
    out = {}
    for frame, obj, kwargs in steps:
        out[("prompt", frame, obj)] = predictor.add_points_or_box(frame, obj, **kwargs)[2]
    for reverse in (False, True):
        for frame, ids, masks in predictor.propagate(reverse=reverse):
            out[(reverse, frame)] = (ids, masks)
    for frame, obj, kwargs in corrections:
        out[("prompt", "again", frame, obj)] = predictor.add_points_or_box(frame, obj, **kwargs)[2]
        for frame, ids, masks in predictor.propagate():
            out[("again", frame)] = (ids, masks)
    return out


def compare(theirs: dict, ours: dict) -> float:
    """The largest difference of any frame's logits (keys and object ids must agree); checks
    that the objects are found on some frames and absent on none of them all (not a trivial
    -1024 everywhere)."""
    assert theirs.keys() == ours.keys()
    worst, present = 0.0, 0
    for key, value in theirs.items():
        if key[0] == "prompt":
            a, b = value, ours[key]
        else:
            assert value[0] == ours[key][0], key
            a, b = value[1], ours[key][1]
            present += int((a > 0).any(dim=(1, 2, 3)).sum())
        assert a.shape == b.shape, key
        assert a.shape[-2:] == VIDEO_HW
        worst = max(worst, (a - b).abs().max().item())
    assert present >= 8, f"objects found only {present} times: a trivial comparison"
    return worst


@pytest.fixture
def fp32_memory_in_meta(monkeypatch):
    """Meta's predictor module with torch.bfloat16 meaning float32 (it stores memories with
    .to(torch.bfloat16)); everything else is torch."""
    names = [k for k in dir(torch) if not k.startswith("__")]
    proxy = types.SimpleNamespace(**{k: getattr(torch, k) for k in names})
    proxy.bfloat16 = torch.float32
    monkeypatch.setattr(sam2.sam2_video_predictor, "torch", proxy)


CASES = [("independent", False), ("batched", True)]


def case_id(case):
    return f"{case[0]}-{'hq-sam2' if case[1] else 'sam2.1'}"


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_video_masks_match_meta_predictor(ours, video_dir, case, fp32_memory_in_meta):
    objects, hq = case
    model = continuous(ours)
    steps = prompts(both_on_frame_5=objects == "batched")
    corrections = [CORRECTION] if objects == "independent" else []
    theirs = run_meta(meta_predictor(model, hq), video_dir, steps, corrections)
    mine = run_ours(model, video_dir, steps, objects, use_hq=hq, corrections=corrections)
    worst = compare(theirs, mine)
    print(f"continuous path, {case_id(case)}: max |diff| {worst:.2e}")
    assert worst < ATOL
