"""Automatic mask generation and prediction under bfloat16 autocast for every family (SAM 1 ViT and
TinyViT, SAM 2.1, SAM 3 with and without early fusion), against float32 on the same weights, and
SAM 3's generator with the HQ token against its predictor.

With the IoU and stability filters at 0 and box NMS off, every point's masks are kept, so fp32 and
bf16 give the same number of masks whatever bf16 rounding does to the scores; each mask must then
have a partner in the other run with mask IoU > 0.9 (bf16 rounding moves the boundary by a pixel or
so: 0.97-1.0 seen), and the sorted predicted IoUs must agree within 0.02 (seen: 0.002) without
being bitwise equal (the bf16 path did run). A decode from the wrong features or a broken upscaling
fails the IoU check. TinyViT has random weights and runs at 256 px instead of 1024 (the
TinyViT encoder takes any multiple of 32): its bf16 convolutions are emulated on CPUs without
AVX-512, 45 CPU-s per 1024 px encode against 3 at 256 px, and the bf16 path is the same at either
size; on a 2 x 2 grid, since each point's bf16 decode is emulated too.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from samhq_train.inference import AutomaticMaskGenerator, SamHQPredictor
from samhq_train.inference.amg.masks import rle_to_mask
from samhq_train.model import load_checkpoint
from samhq_train.model.registry import family_of_variant, variant_config

from .amg_reference import disc_image

DEMO_BASES = Path(__file__).resolve().parents[2] / "data" / "demo_base"
ALL_MASKS = dict(
    points_per_side=4,
    pred_iou_thresh=0.0,
    stability_score_thresh=0.0,
    box_nms_thresh=1.0,
    min_mask_region_area=8,  # SAM 1 / SAM 3 clean the final masks, SAM 2 its low-res logits
)
MODELS = {
    "sam1_vit": lambda: load_checkpoint(DEMO_BASES / "vit_demo_base.safetensors"),
    "sam1_tinyvit": lambda: tinyvit_sam(image_size=256),
    "sam2": lambda: load_checkpoint(DEMO_BASES / "sam2.1_hq_hiera_demo_base.pt"),
    "sam3": lambda: load_checkpoint(DEMO_BASES / "sam3_hq_demo_base.pt"),
    "sam3_early_fusion": lambda: load_checkpoint(
        DEMO_BASES / "sam3_hq_demo_base.pt", variant="sam3_hq_ef_demo"
    ),
}


def tinyvit_sam(image_size: int):
    """Light HQ-SAM's shapes (random weights, seed 0) at another input size."""
    cfg = dataclasses.replace(variant_config("vit_tiny"), image_size=image_size)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return family_of_variant("vit_tiny").build(cfg).eval()


@pytest.fixture(scope="module")
def image():
    return disc_image()


@pytest.fixture(scope="module", params=sorted(MODELS))
def model(request):
    torch.manual_seed(0)  # the SAM 3 demo base has no HQ parts: they are drawn fresh
    return MODELS[request.param]().eval()


def all_masks(model) -> dict:
    tinyvit = model.image_encoder.__class__.__name__ == "TinyViT"
    return dict(ALL_MASKS, points_per_side=2) if tinyvit else ALL_MASKS


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def best_partner_ious(ours: list[np.ndarray], theirs: list[np.ndarray]) -> np.ndarray:
    return np.array([max(mask_iou(a, b) for b in theirs) for a in ours])


def assert_bf16_agrees(fp32, bf16) -> None:
    assert len(fp32) == len(bf16) > 0
    masks32 = [rle_to_mask(r) for r in fp32.rles]
    masks16 = [rle_to_mask(r) for r in bf16.rles]
    for ours, theirs in ((masks32, masks16), (masks16, masks32)):
        partners = best_partner_ious(ours, theirs)
        assert partners.min() > 0.9, np.sort(partners)[:5]
    iou32, iou16 = fp32.iou.sort().values, bf16.iou.sort().values
    assert (iou32 - iou16).abs().max() < 0.02
    assert not torch.equal(iou32, iou16), "the bf16 run gave float32's scores bit for bit"


def test_amg_bf16_agrees_with_fp32(model, image):
    found = {
        dtype: AutomaticMaskGenerator(
            model, amp_dtype=dtype, **all_masks(model)
        ).generate_candidates(image)
        for dtype in (None, torch.bfloat16)
    }
    assert_bf16_agrees(found[None], found[torch.bfloat16])


def test_amg_under_an_outer_autocast(image):
    """The generator inside the caller's own autocast (how scripts/benchmark_cpu.py timed it)
    gives what amp_dtype gives."""
    model = MODELS["sam1_vit"]().eval()
    generator = AutomaticMaskGenerator(model, **ALL_MASKS)
    fp32 = generator.generate_candidates(image)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        outer = generator.generate_candidates(image)
    inner = AutomaticMaskGenerator(model, amp_dtype=torch.bfloat16, **ALL_MASKS)
    assert_bf16_agrees(fp32, outer)
    assert outer.rles == inner.generate_candidates(image).rles


def test_predictor_bf16_agrees_with_fp32(model, image):
    masks, scores = {}, {}
    for dtype in (None, torch.bfloat16):
        predictor = SamHQPredictor(model, amp_dtype=dtype)
        predictor.set_image(image)
        masks[dtype], scores[dtype], low_res = predictor.predict(box=np.array([20, 30, 200, 160]))
        assert scores[dtype].dtype == np.float32 and low_res.dtype == np.float32
    assert masks[None].any()
    assert not np.array_equal(scores[None], scores[torch.bfloat16]), "bf16 gave fp32's scores"
    for a, b in zip(masks[None], masks[torch.bfloat16]):
        # 0.98-1.0, but 0.895 for SAM 3 early fusion's first mask on an AVX2-only CPU (bf16
        # emulated: another rounding than AVX-512's); a wrong decode gives far less
        assert mask_iou(a, b) > 0.85


def test_sam3_amg_decodes_with_the_hq_token(image):
    """SAM 3's generator decodes each point as its predictor does (the interactive tracker's SAM
    2-style decoder with the HQ token: SAM mask + HQ mask by default), and use_hq=False (plain
    SAM 3 of the same weights) and hq_token_only give other masks."""
    torch.manual_seed(0)
    model = MODELS["sam3"]().eval()
    options = dict(ALL_MASKS, points_per_side=3, min_mask_region_area=0, multimask_output=False)
    records = AutomaticMaskGenerator(model, output_mode="binary_mask", **options).generate(image)
    assert len(records) == 9
    predictor = SamHQPredictor(model)
    predictor.set_image(image)
    for record in records:
        masks, scores, _ = predictor.predict(
            point_coords=np.array(record["point_coords"]),
            point_labels=np.array([1]),
            multimask_output=False,
            fill_hole_area=0,  # the generator's predictor fills min_mask_region_area's: 0
        )
        # the generator scales points as Meta's float32 x / w * S, the predictor in float64
        assert (masks[0] != record["segmentation"]).mean() < 1e-3
        assert abs(scores[0] - record["predicted_iou"]) < 1e-4
    rles = {
        name: AutomaticMaskGenerator(model, **options, **extra).generate_candidates(image).rles
        for name, extra in {
            "hq": {},
            "plain": {"use_hq": False},
            "hq_only": {"hq_token_only": True},
        }.items()
    }
    assert sorted(map(str, rles["hq"])) != sorted(map(str, rles["plain"]))
    assert sorted(map(str, rles["hq"])) != sorted(map(str, rles["hq_only"]))
