"""The family record: each family's facts in one place, consistent with its model, and a record
of only the required fields meaning "not supported" for the rest."""

import dataclasses

import numpy as np
import pytest
import torch

from samhq_train.model import (
    FAMILIES,
    Family,
    InputProcessing,
    build_sam_hq,
    canonical_variant,
    family_of_model,
    official_file,
    set_attention_kernel,
)
from samhq_train.model.family_record import block_count
from samhq_train.model.lora import LORA_TARGETS, add_lora
from samhq_train.model.onnx_decoder import OnnxPromptDecoder
from samhq_train.model.sam1 import LongestSideProcessing
from samhq_train.model.sam2 import SquareProcessing

DEMO = {"sam1": "vit_demo", "sam2": "sam2.1_hq_hiera_demo", "sam3": "sam3_hq_demo"}


@pytest.fixture(scope="module")
def demo_models():
    return {name: build_sam_hq(variant, seed=0) for name, variant in DEMO.items()}


def test_every_record_agrees_with_its_model(demo_models):
    assert set(FAMILIES) == set(DEMO)
    for name, family in FAMILIES.items():
        model = demo_models[name]
        assert family.name == name and family_of_model(model) is family
        assert family.processing is type(model).processing_type
        assert issubclass(family.processing, InputProcessing)
        assert issubclass(family.onnx_decoder, OnnxPromptDecoder)
        assert set(family.official_files) <= set(family.variants)
        assert set(family.lora_targets) == {"attn", "mlp", "decoder"}
        assert set(family.aliases.values()) <= set(family.variants)



def test_every_family_detects_each_variant_from_its_full_state_dict():
    """detect_variant reads the depth (block_count) and widths of every registered shape."""
    for family in FAMILIES.values():
        for variant, cfg in family.variants.items():
            with torch.device("meta"):
                state = family.build(cfg).state_dict()
            assert family.detect_variant(state) == variant, variant


def test_block_count_is_one_past_the_highest_block_index():
    state = {f"enc.blocks.{i}.{name}": None for i in (0, 1, 11) for name in ("w", "b")}
    assert block_count(state, "enc.blocks.") == 12
    assert block_count({"enc.norm.w": None}, "enc.blocks.") == 0

def test_official_base_files_come_from_the_records():
    assert official_file("vit_b") == "sam_vit_b_01ec64.pth"
    assert official_file("vit_tiny") == "mobile_sam.pt"
    assert official_file("sam2.1_hq_hiera_b+") == "sam2.1_hiera_base_plus.pt"
    assert official_file("sam2.1_hiera_large") == "sam2.1_hiera_large.pt"  # by its Meta name
    assert official_file("vit_demo") is None  # the demo starts from a seeded random backbone


def test_the_earlier_demo_name_tiny_still_builds_vit_demo():
    # the demo ViT was called "tiny" until it became vit_demo (vit_tiny is Light HQ-SAM)
    assert canonical_variant("tiny") == "vit_demo"
    old, new = build_sam_hq("tiny", seed=0), build_sam_hq("vit_demo", seed=0)
    assert old.state_dict().keys() == new.state_dict().keys()
    assert all(torch.equal(v, new.state_dict()[k]) for k, v in old.state_dict().items())
    with pytest.raises(ValueError, match="unknown SAM-HQ variant 'tinyy'"):
        canonical_variant("tinyy")


def test_attention_kernels_go_through_the_family(demo_models):
    sam1, sam2 = demo_models["sam1"], demo_models["sam2"]
    set_attention_kernel(sam1, "sdpa")
    assert sam1.image_encoder.attention_kernel == "sdpa"
    set_attention_kernel(sam1, "auto")
    set_attention_kernel(sam2, "auto")
    set_attention_kernel(sam2, "sdpa")
    with pytest.raises(
        ValueError, match="model.attention=flex: expected auto or sdpa: the sam2 family"
    ):
        set_attention_kernel(sam2, "flex")
    with pytest.raises(ValueError, match="model.attention=fused: expected one of auto, sdpa, flex"):
        set_attention_kernel(sam2, "fused")


def test_lora_presets_take_the_family_targets(demo_models):
    sam2 = build_sam_hq(DEMO["sam2"], seed=0)
    names = add_lora(sam2, "attn+mlp+decoder", rank=2, alpha=4)
    assert names and all(
        n.startswith(("image_encoder.trunk.blocks.", "sam_mask_decoder.transformer."))
        for n in names
    )
    assert any(".mlp.layers." in n for n in names) and any(n.endswith("_proj") for n in names)
    plain = torch.nn.Sequential(torch.nn.Linear(4, 4))
    with pytest.raises(ValueError, match="LoRA preset 'attn' needs a model of a registered family"):
        add_lora(plain, "attn", rank=2, alpha=4)
    assert set(LORA_TARGETS) == {"attn", "attn+mlp", "attn+mlp+decoder"}


def test_transformers_codec_is_sam1_only():
    codec = FAMILIES["sam1"].transformers_codec
    assert FAMILIES["sam2"].transformers_codec is None
    assert FAMILIES["sam3"].transformers_codec is None
    keys = ["mask_decoder.hf_token.weight", "image_encoder.blocks.0.attn.qkv.weight"]
    assert codec.key_map(keys) == {
        "mask_decoder.hf_token.weight": "mask_decoder.hq_token.weight",
        "image_encoder.blocks.0.attn.qkv.weight": "vision_encoder.layers.0.attn.qkv.weight",
    }
    cfg = FAMILIES["sam1"].variants["vit_demo"]
    assert codec.config_from(codec.config(cfg)) == cfg


def test_a_record_of_only_the_required_fields_supports_nothing_else():
    required = {
        f.name
        for f in dataclasses.fields(Family)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }
    assert required == {
        "name",
        "variants",
        "build",
        "hq_modules",
        "detect_variant",
        "owns_state",
        "decoder_prefix",
    }
    sam1 = FAMILIES["sam1"]
    bare = Family(**{name: getattr(sam1, name) for name in required})
    assert bare.processing is None and bare.onnx_decoder is None and bare.transformers_codec is None
    assert bare.lora_patterns(("attn", "mlp")) == [] and bare.official_files == {}
    assert bare.adopt_state is None  # the model computes every tensor it holds
    # without a base_config, two variants share files only when they are the same variant
    assert bare.same_base("vit_b", "vit_b") and not bare.same_base("vit_b", "vit_l")
    model = build_sam_hq("vit_demo", seed=0)
    bare.set_attention_kernel(model, "sdpa")
    with pytest.raises(ValueError, match="the sam1 family has no attention kernels"):
        bare.set_attention_kernel(model, "flex")


def test_hq_designs_of_one_base_share_files():
    sam3 = FAMILIES["sam3"]
    assert sam3.same_base("sam3_hq", "sam3_hq_ef") and sam3.same_base(
        "sam3_hq_demo", "sam3_hq_ef_demo"
    )
    assert not sam3.same_base("sam3_hq", "sam3_hq_demo")
    assert not FAMILIES["sam2"].same_base("sam2.1_hq_hiera_t", "sam2.1_hq_hiera_s")


@pytest.mark.parametrize("size", [(300, 200), (90, 130), (256, 256), (1, 1000), (333, 501)])
def test_sam1_input_shape_is_the_same_rule_for_ints_and_onnx_tensors(size):
    processing = LongestSideProcessing(256)
    from_tensor = processing.input_shape(torch.tensor([float(size[0]), float(size[1])]))
    expected = processing.input_shape(size)
    if min(expected) > 1:  # the int rule keeps at least 1 pixel; the ONNX graph does not clamp
        assert tuple(int(x) for x in from_tensor) == expected
    assert processing.resize_image(np.zeros((*size, 3), np.uint8)).shape[:2] == expected


def test_sam2_rule_squashes_to_the_square_and_scales_coordinates():
    processing = SquareProcessing(256)
    image = np.random.default_rng(0).integers(0, 256, (100, 50, 3), dtype=np.uint8)
    resized = processing.resize_image(image)
    assert resized.shape == (256, 256, 3) and resized.dtype == np.float32
    coords = processing.scale_coords(np.array([[25.0, 50.0], [50.0, 100.0]]), (100, 50))
    np.testing.assert_allclose(coords, [[128.0, 128.0], [256.0, 256.0]])
    logits = torch.randn(2, 1, 64, 64)
    out = processing.postprocess_masks(logits, None, torch.tensor([100.0, 50.0]))
    assert out.shape == (2, 1, 100, 50)
    torch.testing.assert_close(out, processing.postprocess_masks(logits, (256, 256), (100, 50)))
