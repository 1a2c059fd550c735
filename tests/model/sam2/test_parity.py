"""Same weights, same image and prompts: our Sam2HQ against the outputs of the official HQ-SAM 2
predictor (SysCV/sam-hq, sam-hq2) and of Meta's sam2 1.1.0 (use_hq=False), fp32."""

import re

import pytest
import torch

from .conftest import predictor_image, predictor_prompts

ATOL = 1e-4
PROMPTS = ("box", "box+points", "points")
# (prompt, hq_token_only, multimask_output)
HQ_CASES = [(p, h, m) for p in PROMPTS for h in (False, True) for m in (False, True)]
META_CASES = [c for c in HQ_CASES if not c[1]]


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, f"shape {tuple(a.shape)} != reference {tuple(b.shape)}"
    return (a - b).abs().max().item()


@pytest.fixture(scope="module")
def hq_features(hq_model, hq_fixture):
    with torch.no_grad():
        return hq_model.encode(predictor_image(hq_fixture, hq_model.image_size))


@pytest.fixture(scope="module")
def meta_features(meta_model, meta_fixture):
    with torch.no_grad():
        return meta_model.encode(predictor_image(meta_fixture, meta_model.image_size))


@pytest.mark.parametrize("which", ["hq", "meta"])
def test_image_features_match_the_predictor(which, request):
    fixture = request.getfixturevalue(f"{which}_fixture")
    features = request.getfixturevalue(f"{which}_features")
    out = fixture["outputs"]
    assert _max_diff(features.embedding, out["image_embed"]) < ATOL
    assert _max_diff(features.high_res_0, out["high_res_feat_0"]) < ATOL
    assert _max_diff(features.high_res_1, out["high_res_feat_1"]) < ATOL


def test_no_mem_embed_is_in_the_embedding(hq_model, hq_fixture, hq_features):
    """The predictor adds no_mem_embed; without it the embedding is off by exactly that."""
    hq_model.directly_add_no_mem_embed = False
    try:
        with torch.no_grad():
            bare = hq_model.encode(predictor_image(hq_fixture, hq_model.image_size)).embedding
    finally:
        hq_model.directly_add_no_mem_embed = True
    shift = hq_fixture["state_dict"]["no_mem_embed"].view(1, -1, 1, 1)
    assert _max_diff(bare + shift, hq_features.embedding) < 1e-6
    assert _max_diff(bare, hq_features.embedding) > 1e-3


def _output_cases(fixture: dict):
    """(prompt name, hq_token_only, multimask_output) of every case in the fixture."""
    cases = set()
    for key in fixture["outputs"]:
        match = re.fullmatch(r"(.+)_hq(\d)_multi(\d)_iou", key)
        if match:
            cases.add((match[1], bool(int(match[2])), bool(int(match[3]))))
    return sorted(cases)


def _check_case(model, features, fixture, name, hq_token_only, multimask, use_hq):
    image_hw = tuple(fixture["image"].shape[:2])
    kwargs = predictor_prompts(fixture["prompts"][name], image_hw, model.image_size)
    with torch.no_grad():
        low_res, iou = model.decode(
            features, multimask_output=multimask, hq_token_only=hq_token_only, use_hq=use_hq, **kwargs
        )
    key = f"{name}_hq{int(hq_token_only)}_multi{int(multimask)}"
    out = fixture["outputs"]
    assert low_res.shape[:2] == (1, 1) and iou.shape[:2] == (1, 1)
    # the predictor clamps the low-res logits it returns to [-32, 32]
    assert _max_diff(low_res[0, 0].clamp(-32, 32), out[f"{key}_low_res"]) < ATOL, key
    assert _max_diff(iou[0, 0], out[f"{key}_iou"]) < ATOL, key
    if f"{key}_masks" in out:  # full-size logits from the unclamped low-res ones
        full = model.postprocess_masks(low_res[0, 0], (model.image_size,) * 2, image_hw)
        assert _max_diff(full, out[f"{key}_masks"]) < ATOL, key


def test_fixtures_cover_every_case(hq_fixture, meta_fixture):
    assert _output_cases(hq_fixture) == HQ_CASES
    assert _output_cases(meta_fixture) == META_CASES


@pytest.mark.parametrize("case", HQ_CASES, ids=lambda c: f"{c[0]}-hq{int(c[1])}-multi{int(c[2])}")
def test_hq_decoder_matches_official_hq_sam2(case, hq_model, hq_features, hq_fixture):
    _check_case(hq_model, hq_features, hq_fixture, *case, use_hq=True)


@pytest.mark.parametrize("case", META_CASES, ids=lambda c: f"{c[0]}-multi{int(c[2])}")
def test_use_hq_false_matches_meta_sam21(case, meta_model, meta_features, meta_fixture):
    _check_case(meta_model, meta_features, meta_fixture, *case, use_hq=False)


def test_hq_weights_without_hq_token_are_meta_sam21(hq_model, hq_features, meta_fixture):
    """The HQ-SAM 2 model with use_hq=False is the SAM 2.1 baseline on the same weights."""
    for name, _, multimask in _output_cases(meta_fixture):
        _check_case(hq_model, hq_features, meta_fixture, name, False, multimask, use_hq=False)


def test_hq_token_changes_the_sam_masks(hq_model, hq_features, hq_fixture, meta_fixture):
    """With the HQ token in attention the SAM branch differs from plain SAM 2.1 (not a no-op)."""
    kwargs = predictor_prompts(hq_fixture["prompts"]["box"], tuple(hq_fixture["image"].shape[:2]), 256)
    with torch.no_grad():
        with_hq, _ = hq_model.decode(hq_features, multimask_output=True, **kwargs)
    plain = meta_fixture["outputs"]["box_hq0_multi1_low_res"]
    assert (with_hq[0, 0].clamp(-32, 32) - plain).abs().max() > 1e-2


def test_dynamic_multimask_is_off_in_the_fixture_config(hq_model, hq_features, hq_fixture):
    """The fixture's config has no sam_mask_decoder_extra_args, so the official decoder kept
    dynamic_multimask_via_stability off; switching it on changes the single-mask outputs."""
    decoder = hq_model.sam_mask_decoder
    assert decoder.dynamic_multimask_via_stability is False
    decoder.dynamic_multimask_via_stability = True
    try:
        with pytest.raises(AssertionError):
            _check_case(hq_model, hq_features, hq_fixture, "points", False, False, use_hq=True)
    finally:
        decoder.dynamic_multimask_via_stability = False
