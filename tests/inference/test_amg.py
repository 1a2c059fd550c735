"""Automatic mask generation: whole generators against the official SAM-HQ generator (SAM 1) and
Meta's sam2 1.1.0 generator (SAM 2.1, HQ token off; a stored reference where sam2 is missing),
memory-bounding chunks, output modes and options (the mask arithmetic: test_amg_masks.py; the
command: test_amg_command.py).

SAM 1 parity runs on the shipped demo base (SAM parts trained on demo shapes, so point prompts
give localized masks that NMS has something to do with) with its untrained HQ mask output scaled
by 0.05 (the HQ token still takes part in attention and adds its mask), and on the random tiny
model (multimask output, NMS off). Thresholds are low so that many masks survive.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from pycocotools import mask as coco_mask

from samhq_train.inference import AutomaticMaskGenerator, SamHQPredictor
from samhq_train.inference.amg import generator as amg_generator
from samhq_train.inference.amg import masks as amg_masks
from samhq_train.inference.amg.generator import AmgOptionError
from samhq_train.model import build_sam_hq, load_checkpoint
from tests.model.sam2.conftest import HQ_FIXTURE, load_fixture, mini_model
from tests.model.sam2.official import load_official_state
from tests.reference import official_twin, random_tiny_model

from .amg_reference import (
    BASE,
    META_FIXTURE,
    SAM2_AMG_FIXTURE,
    SAM2_VARIANT,
    compare_records,
    connected_components_on_cpu,
    disc_image,
    meta_miniature,
    meta_sam2_generator,
)

ROOT = Path(__file__).resolve().parents[2]
DEMO_BASE = ROOT / "data" / "demo_base" / "vit_demo_base.safetensors"
SCORE_ATOL = 1e-5
# A stability score is a ratio of pixel counts at logits +-1 off the cut, so a last-bit difference
# between our logits and the reference's that flips one pixel there moves it by 1 / area, not by
# a rounding: 4.1e-5 on a 25,000-pixel mask on an AVX2-only EPYC (its kernels round otherwise
# than the AVX-512 machines the test was written on); the masks themselves stay equal.
STABILITY_ATOL = 1e-3


def assert_scores_close(result: dict) -> None:
    assert result["max_iou_diff"] < SCORE_ATOL, result
    assert result["max_stability_diff"] < STABILITY_ATOL, result


@pytest.fixture(scope="module")
def demo_model():
    model = load_checkpoint(DEMO_BASE).eval()
    with torch.no_grad():
        for tensor in model.mask_decoder.hf_mlp.layers[-1].parameters():
            tensor.mul_(0.05)
    return model


@pytest.fixture(scope="module")
def image():
    return disc_image()


@pytest.fixture(scope="module")
def sam2_model():
    model = build_sam_hq(SAM2_VARIANT)
    load_official_state(model, torch.load(META_FIXTURE, weights_only=True)["state_dict"])
    return model.eval()


# ---- whole generators against the official ones ---------------------------------------------

SAM1_CASES = {
    "single_mask": dict(
        BASE, points_per_side=8, multimask_output=False, output_mode="uncompressed_rle"
    ),
    "crops_small_regions": dict(
        BASE,
        points_per_side=8,
        crop_n_layers=1,
        crop_n_points_downscale_factor=2,
        min_mask_region_area=40,
        points_per_batch=20,
        stability_score_thresh=0.2,
        multimask_output=False,
        output_mode="coco_rle",
    ),
    # the NMS after small-region removal uses the larger of the two thresholds
    "small_regions_nms_thresholds": dict(
        BASE,
        points_per_side=8,
        crop_n_layers=1,
        min_mask_region_area=40,
        box_nms_thresh=0.3,
        crop_nms_thresh=0.9,
        multimask_output=False,
        output_mode="uncompressed_rle",
    ),
}


@pytest.mark.parametrize("case", SAM1_CASES)
def test_sam1_generator_equals_the_official_sam_hq_generator(case, demo_model, image):
    official = pytest.importorskip("segment_anything_hq")
    options = dict(SAM1_CASES[case])
    multimask = options.pop("multimask_output")
    theirs = official.SamAutomaticMaskGenerator(
        official_twin(demo_model, "vit_demo_base"), **options
    )
    theirs = theirs.generate(image, multimask_output=multimask)
    ours = AutomaticMaskGenerator(demo_model, multimask_output=multimask, **options).generate(image)
    result = compare_records(ours, theirs)
    assert result["masks"] >= 8, result  # enough masks for the comparison to mean something
    assert result["equal_rle"] == result["masks"], result
    assert (
        result["same_boxes"] == result["same_crop_boxes"] == result["same_areas"] == result["masks"]
    )
    assert_scores_close(result)
    assert result["max_point_diff"] == 0, result


def test_a_mask_exactly_at_the_stability_threshold_is_kept_as_officially(demo_model, image):
    official = pytest.importorskip("segment_anything_hq")
    options = dict(BASE, points_per_side=8, output_mode="uncompressed_rle")
    found = AutomaticMaskGenerator(demo_model, multimask_output=False, **options).generate(image)
    stabilities = sorted({r["stability_score"] for r in found})
    options["stability_score_thresh"] = stabilities[len(stabilities) // 2]  # a float32 value
    theirs = official.SamAutomaticMaskGenerator(
        official_twin(demo_model, "vit_demo_base"), **options
    ).generate(image, multimask_output=False)
    ours = AutomaticMaskGenerator(demo_model, multimask_output=False, **options).generate(image)
    result = compare_records(ours, theirs)
    assert result["masks"] == len(theirs) >= 2 and result["equal_rle"] == result["masks"], result
    assert min(r["stability_score"] for r in ours) == options["stability_score_thresh"]


def test_sam1_multimask_on_random_weights_equals_the_official_generator(image):
    official = pytest.importorskip("segment_anything_hq")
    model = random_tiny_model(seed=0).eval()
    options = dict(BASE, box_nms_thresh=1.0, output_mode="binary_mask")
    theirs = official.SamAutomaticMaskGenerator(official_twin(model), **options).generate(image)
    ours = AutomaticMaskGenerator(model, **options).generate(image)
    result = compare_records(ours, theirs)
    assert result["masks"] == 36 and result["equal_rle"] == 36, result
    assert_scores_close(result)


def assert_like_meta(result):
    # our SAM 2.1 equals Meta's within float rounding, not bit for bit: a logit within rounding
    # of 0 may flip a pixel, so a few masks may differ in a few pixels
    assert result["equal_rle"] >= result["masks"] - max(1, result["masks"] // 50), result
    assert all(d <= 4 for d in result["pixels_differing"]), result
    assert result["same_crop_boxes"] == result["masks"], result
    assert_scores_close(result)
    assert result["max_point_diff"] < 1e-4, result


def test_sam2_generator_equals_metas_stored_results(sam2_model):
    stored = torch.load(SAM2_AMG_FIXTURE, weights_only=True)
    image = torch.load(META_FIXTURE, weights_only=True)["image"].numpy()
    for name, options in stored["cases"].items():
        ours = AutomaticMaskGenerator(sam2_model, use_hq=False, **options).generate(image)
        result = compare_records(ours, stored["records"][name])
        assert result["masks"] >= 1, (name, result)
        assert_like_meta(result)


def test_sam2_generator_equals_meta_sam2_live(sam2_model, monkeypatch):
    pytest.importorskip("sam2")
    from sam2.utils import misc

    meta = meta_miniature()
    image = disc_image()
    # min_mask_region_area: Meta's predictor cleans the low-res logits with a CUDA kernel (and
    # skips it where the kernel is not built); a CPU stand-in makes it run here
    monkeypatch.setattr(misc, "get_connected_components", connected_components_on_cpu)
    cases = [
        dict(BASE, box_nms_thresh=1.0, output_mode="uncompressed_rle"),
        dict(BASE, points_per_side=4, box_nms_thresh=1.0, min_mask_region_area=30),
    ]
    for options in cases:
        with torch.no_grad():
            theirs = meta_sam2_generator(meta, **options).generate(image)
        ours = AutomaticMaskGenerator(sam2_model, use_hq=False, **options).generate(image)
        result = compare_records(ours, theirs)
        assert result["masks"] >= 40, result
        assert_like_meta(result)


# ---- memory, output modes, options ----------------------------------------------------------


def test_chunked_upsampling_changes_nothing(demo_model, image, monkeypatch):
    options = dict(SAM1_CASES["single_mask"], points_per_side=5, stability_score_thresh=0.3)
    whole = AutomaticMaskGenerator(demo_model, **options).generate(image)
    monkeypatch.setattr(amg_generator, "UPSAMPLE_PIXELS", 1)  # one full-size mask at a time
    chunked = AutomaticMaskGenerator(demo_model, **options).generate(image)
    result = compare_records(chunked, whole)
    assert result["equal_rle"] == result["masks"] > 0 and result["max_iou_diff"] == 0


def test_output_modes_give_the_same_masks(demo_model, image):
    generator = AutomaticMaskGenerator(
        demo_model, **dict(SAM1_CASES["single_mask"], points_per_side=4)
    )
    found = generator.generate_candidates(image)
    by_mode = {}
    for mode in ("binary_mask", "uncompressed_rle", "coco_rle", "polygons"):
        generator.output_mode = mode
        by_mode[mode] = generator.records(found)
    binary = [r["segmentation"] for r in by_mode["binary_mask"]]
    assert binary and all(m.shape == image.shape[:2] and m.dtype == bool for m in binary)
    for record, mask in zip(by_mode["uncompressed_rle"], binary):
        np.testing.assert_array_equal(amg_masks.rle_to_mask(record["segmentation"]), mask)
    for record, mask in zip(by_mode["coco_rle"], binary):
        np.testing.assert_array_equal(coco_mask.decode(record["segmentation"]).astype(bool), mask)
        assert record["area"] == mask.sum()
    for record, mask in zip(by_mode["polygons"], binary):
        drawn = np.zeros(mask.shape, np.uint8)
        for polygon in record["segmentation"]:
            cv2.fillPoly(drawn, [np.array(polygon, np.int32).reshape(-1, 2)], 1)
        outer = np.zeros_like(drawn)  # the mask with its holes filled: what polygons describe
        contours, _ = cv2.findContours(
            mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE
        )
        cv2.drawContours(outer, contours, -1, 1, -1)
        np.testing.assert_array_equal(drawn, outer)


def test_hq_options_run_for_both_families(demo_model, image):
    hq_model = mini_model(load_fixture(HQ_FIXTURE))
    for model in (demo_model, hq_model):
        options = dict(BASE, points_per_side=3, box_nms_thresh=1.0)
        runs = {
            (hq_only, use_hq): AutomaticMaskGenerator(
                model, hq_token_only=hq_only, use_hq=use_hq, **options
            ).generate_candidates(image)
            for hq_only, use_hq in ((False, True), (True, True), (False, False))
        }
        per_point = 1 if model.family == "sam1" else 3
        assert len(runs[False, True]) == 9 * per_point and len(runs[True, True]) == 9
        assert len(runs[False, False]) == 27  # plain SAM / SAM 2.1: three masks per point
        assert not torch.equal(runs[False, True].iou[:9], runs[False, False].iou[:9])
    # HQ-SAM 2's HQ mask alone is scored with the best of the three SAM scores (as the predictor
    # returns them for it)
    predictor = SamHQPredictor(hq_model)
    predictor.set_image(image)
    hq_alone = runs[True, True]
    best = [
        predictor.predict(point[None].numpy(), np.array([1]), hq_token_only=True)[1].max()
        for point in hq_alone.points
    ]
    first = [
        predictor.predict(point[None].numpy(), np.array([1]), hq_token_only=True)[1][0]
        for point in hq_alone.points
    ]
    assert not np.allclose(best, first, atol=1e-3)  # the best is not always the first
    np.testing.assert_allclose(hq_alone.iou.numpy(), best, atol=1e-4)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"points_per_side": 0}, "points_per_side must be in [1, 256]"),
        ({"points_per_side": None}, "exactly one of points_per_side and point_grids"),
        ({"output_mode": "png"}, "output_mode must be one of"),
        (
            {"crop_n_layers": 3, "crop_n_points_downscale_factor": 4, "points_per_side": 8},
            "leaves no point",
        ),
        ({"crop_overlap_ratio": 1.0}, "crop_overlap_ratio must be in [0, 1)"),
    ],
)
def test_bad_options_are_one_clear_error(demo_model, options, message):
    with pytest.raises(AmgOptionError, match=message.replace("[", r"\[").replace(")", r"\)")):
        AutomaticMaskGenerator(demo_model, **options)


# each family's official generator: SAM-HQ's for SAM 1, Meta's sam2 1.1.0 for SAM 2.1
OFFICIAL_GENERATORS = {
    "sam1": ("segment_anything_hq", "SamAutomaticMaskGenerator"),
    "sam2": ("sam2.automatic_mask_generator", "SAM2AutomaticMaskGenerator"),
}
DEFAULTS_COMPARED = (
    "points_per_batch", "pred_iou_thresh", "stability_score_thresh", "stability_score_offset",
    "box_nms_thresh", "crop_n_layers", "crop_nms_thresh", "crop_overlap_ratio",
    "min_mask_region_area", "output_mode",
)


@pytest.mark.parametrize("family", OFFICIAL_GENERATORS)
def test_defaults_are_the_official_generators(family, demo_model, sam2_model):
    """A generator built without options thresholds and crops as its family's official one (the
    whole-generator comparisons above pass their thresholds explicitly)."""
    import inspect

    module, name = OFFICIAL_GENERATORS[family]
    official = getattr(pytest.importorskip(module), name)
    defaults = {k: p.default for k, p in inspect.signature(official).parameters.items()}
    ours = AutomaticMaskGenerator(demo_model if family == "sam1" else sam2_model)
    assert {k: getattr(ours, k) for k in DEFAULTS_COMPARED} == {
        k: defaults[k] for k in DEFAULTS_COMPARED
    }
    assert len(ours.point_grids) == 1 + defaults["crop_n_layers"]
    assert len(ours.point_grids[0]) == defaults["points_per_side"] ** 2
