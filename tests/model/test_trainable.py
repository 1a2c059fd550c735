import pytest
import torch

from samhq_train.model import (
    HQ_MODULES,
    assert_only_hq_trainable,
    build_sam_hq,
    hq_parameter_names,
    is_hq_parameter,
)
from tests.reference import build_official

# the README's 4.1 / 5.1 / 6.1 MB of learnable fp32 parameters (../shared/RECIPE.md)
HQ_COUNTS = {"vit_b": 1_071_104, "vit_l": 1_333_248, "vit_h": 1_595_392}


def trainable_count(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("variant", sorted(HQ_COUNTS))
def test_only_hq_parts_train(variant):
    with torch.device("meta"):
        model = build_sam_hq(variant)
    assert trainable_count(model) == HQ_COUNTS[variant]
    assert_only_hq_trainable(model)
    assert {name.split(".")[1] for name in hq_parameter_names(model)} == set(HQ_MODULES)


def test_vit_b_count_equals_the_official_package():
    from segment_anything_hq import sam_model_registry

    official = sam_model_registry["vit_b"]()
    with torch.device("meta"):
        ours = build_sam_hq("vit_b")
    assert trainable_count(ours) == trainable_count(official) == HQ_COUNTS["vit_b"]
    official_names = {n for n, p in official.named_parameters() if p.requires_grad}
    assert set(hq_parameter_names(ours)) == official_names


def test_tiny_official_build_agrees_on_the_filter():
    official = build_official("tiny")
    ours = build_sam_hq("tiny")
    assert {n for n, _ in official.named_parameters() if is_hq_parameter(n)} == set(hq_parameter_names(ours))


def test_filter_accepts_prefixed_names_and_rejects_lookalikes():
    assert is_hq_parameter("model.mask_decoder.hf_mlp.layers.0.weight")
    assert not is_hq_parameter("mask_decoder.output_hypernetworks_mlps.0.layers.0.weight")
    assert not is_hq_parameter("mask_decoder.hf_token_extra.weight")


def test_assert_only_hq_trainable_names_the_offender():
    model = build_sam_hq("tiny")
    model.image_encoder.pos_embed.requires_grad_(True)
    with pytest.raises(RuntimeError, match="image_encoder.pos_embed"):
        assert_only_hq_trainable(model)
