import pytest
import torch

from samhq_train.model import (
    FAMILIES,
    build_sam_hq,
    check_policy_applied,
    trained_parameter_names,
)
from tests.reference import build_official

is_hq_key = FAMILIES["sam1"].is_hq_key

# the README's 4.1 / 5.1 / 6.1 MB of learnable fp32 parameters (the SAM-HQ paper's counts)
HQ_COUNTS = {"vit_b": 1_071_104, "vit_l": 1_333_248, "vit_h": 1_595_392}


def trainable_count(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("variant", sorted(HQ_COUNTS))
def test_only_hq_parts_train(variant):
    with torch.device("meta"):
        model = build_sam_hq(variant)
    assert trainable_count(model) == HQ_COUNTS[variant]
    check_policy_applied(model)
    assert {name.split(".")[1] for name in trained_parameter_names(model)} == set(FAMILIES["sam1"].hq_modules)


def test_vit_b_count_equals_the_official_package():
    from segment_anything_hq import sam_model_registry

    official = sam_model_registry["vit_b"]()
    with torch.device("meta"):
        ours = build_sam_hq("vit_b")
    assert trainable_count(ours) == trainable_count(official) == HQ_COUNTS["vit_b"]
    official_names = {n for n, p in official.named_parameters() if p.requires_grad}
    assert set(trained_parameter_names(ours)) == official_names


def test_tiny_official_build_agrees_on_the_filter():
    official = build_official("vit_demo")
    ours = build_sam_hq("vit_demo")
    assert {n for n, _ in official.named_parameters() if is_hq_key(n)} == set(trained_parameter_names(ours))


def test_filter_accepts_prefixed_names_and_rejects_lookalikes():
    assert is_hq_key("model.mask_decoder.hf_mlp.layers.0.weight")
    assert not is_hq_key("mask_decoder.output_hypernetworks_mlps.0.layers.0.weight")
    assert not is_hq_key("mask_decoder.hf_token_extra.weight")


def test_check_policy_applied_names_the_offender():
    model = build_sam_hq("vit_demo")
    model.image_encoder.pos_embed.requires_grad_(True)
    with pytest.raises(RuntimeError, match="image_encoder.pos_embed"):
        check_policy_applied(model)
