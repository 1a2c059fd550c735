import pytest
import torch
from torch import nn

from samhq_train.model import build_sam_hq
from samhq_train.model.lora import (
    LORA_TARGETS,
    LoRALinear,
    add_lora,
    is_lora_key,
    merge_lora,
)

ENCODER_BLOCKS = 4
DECODER_BLOCK_ATTENTIONS = ("self_attn", "cross_attn_token_to_image", "cross_attn_image_to_token")
DECODER_ATTENTIONS = [f"layers.{i}.{a}" for i in range(2) for a in DECODER_BLOCK_ATTENTIONS]
DECODER_ATTENTIONS.append("final_attn_token_to_image")


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The adapter tensors only, under their full names."""
    return {k: v for k, v in model.state_dict().items() if is_lora_key(k)}


def tiny_model() -> nn.Module:
    return build_sam_hq("vit_demo", seed=0)


def outputs(model: nn.Module, *, grad: bool = False) -> list[torch.Tensor]:
    """Without grad by default: trainable adapters would otherwise make scaled_dot_product_attention
    take another CPU kernel than the frozen model does, which differs in the last bits."""
    gen = torch.Generator().manual_seed(1)
    with torch.set_grad_enabled(grad):
        images = torch.rand(1, 3, 256, 256, generator=gen) * 255
        boxes = torch.tensor([[[30.0, 40.0, 200.0, 220.0]]])
        return list(model(images, boxes=boxes, multimask_output=True))


def randomise_adapters(model: nn.Module, std: float = 0.05) -> None:
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if is_lora_key(name):
                p.copy_(torch.randn(p.shape, generator=gen) * std)


def linear_names(model: nn.Module) -> list[str]:
    return [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]


def vit_names(*parts: str) -> set[str]:
    return {f"image_encoder.blocks.{i}.{p}" for i in range(ENCODER_BLOCKS) for p in parts}


DECODER_PROJ = {
    f"mask_decoder.transformer.{a}.{p}"
    for a in DECODER_ATTENTIONS
    for p in ("q_proj", "k_proj", "v_proj", "out_proj")
}
ALL = "attn+mlp+decoder"


def test_fresh_adapters_change_no_output():
    model = tiny_model()
    before = outputs(model)
    assert add_lora(model, ALL, rank=4, alpha=8)
    for a, b in zip(before, outputs(model), strict=True):
        assert torch.equal(a, b)


def test_random_adapters_change_the_output():
    model = tiny_model()
    before = outputs(model)
    add_lora(model, ALL, rank=4, alpha=8)
    randomise_adapters(model)
    assert not torch.allclose(before[0], outputs(model)[0], atol=1e-3)


def test_merged_model_equals_the_adapter_model_with_the_original_layout():
    model = tiny_model()
    original = {k: v.shape for k, v in model.state_dict().items()}
    original_types = {n: type(m) for n, m in model.named_modules()}
    add_lora(model, ALL, rank=4, alpha=8)
    randomise_adapters(model)
    with_adapters = outputs(model)
    adapters = {k: v.clone() for k, v in lora_state_dict(model).items()}
    adapters_before_merge = lora_state_dict(model)  # shares storage with the adapters
    merge_lora(model)
    assert all(torch.equal(v, adapters[k]) for k, v in adapters_before_merge.items())
    for a, b in zip(with_adapters, outputs(model), strict=True):
        diff = (a - b).abs().max().item()
        assert diff < 1e-5, f"merged output differs from the adapter output by {diff:.3g}"
    assert {k: v.shape for k, v in model.state_dict().items()} == original
    assert {n: type(m) for n, m in model.named_modules()} == original_types


def test_merge_folds_the_scaled_product_into_the_weight():
    base = nn.Linear(6, 5)
    weight = base.weight.detach().clone()
    layer = LoRALinear(base, rank=2, alpha=3)
    with torch.no_grad():
        layer.lora_B.normal_()
    delta = layer.lora_B @ layer.lora_A * 1.5
    x = torch.randn(3, 6)
    assert torch.allclose(layer(x), x @ (weight + delta).T + base.bias, atol=1e-6)
    merged = layer.merge()
    assert type(merged) is nn.Linear and merged.weight is base.weight and merged.bias is base.bias
    assert torch.allclose(merged.weight, weight + delta, atol=1e-6)


def test_merging_twice_or_without_adapters_changes_nothing():
    plain = tiny_model()
    state = {k: v.clone() for k, v in plain.state_dict().items()}
    merge_lora(plain)
    assert all(torch.equal(v, state[k]) for k, v in plain.state_dict().items())

    model = tiny_model()
    add_lora(model, ALL, rank=4, alpha=8)
    randomise_adapters(model)
    merge_lora(model)
    once_state = {k: v.clone() for k, v in model.state_dict().items()}
    once = outputs(model)
    merge_lora(model)
    assert all(torch.equal(v, once_state[k]) for k, v in model.state_dict().items())
    assert all(torch.equal(a, b) for a, b in zip(once, outputs(model), strict=True))


def test_wrapped_layers_keep_names_and_share_the_base_parameters():
    model = tiny_model()
    qkv = model.image_encoder.blocks[0].attn.qkv
    original = set(model.state_dict())
    wrapped = add_lora(model, "image_encoder.blocks.*.attn.qkv", rank=2, alpha=2)
    layer = model.image_encoder.blocks[0].attn.qkv
    assert isinstance(layer, LoRALinear)
    assert layer.weight is qkv.weight and layer.bias is qkv.bias
    assert set(model.state_dict()) == original | {
        f"{n}.{p}" for n in wrapped for p in ("lora_A", "lora_B")
    }


def test_add_lora_adds_exactly_an_a_and_b_per_wrapped_layer():
    model = tiny_model()
    wrapped = add_lora(model, "attn+mlp", rank=4, alpha=8)
    assert set(lora_state_dict(model)) == {
        f"{n}.{p}" for n in wrapped for p in ("lora_A", "lora_B")
    }
    assert is_lora_key("a.b.lora_A") and is_lora_key("lora_B")
    assert not is_lora_key("a.lora_A.weight") and not is_lora_key("a.my_lora_A")


def test_gradients_reach_the_adapters_and_not_the_frozen_weight():
    model = tiny_model()
    for p in model.parameters():
        p.requires_grad_(False)
    wrapped = add_lora(model, ALL, rank=4, alpha=8)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("lora_B"):
                p.normal_(std=0.05)  # with B = 0, A gets zero gradient
    sum(o.float().sum() for o in outputs(model, grad=True)).backward()
    for name in wrapped:
        layer = model.get_submodule(name)
        assert layer.weight.grad is None and layer.bias.grad is None
        assert layer.lora_A.grad is not None and layer.lora_A.grad.abs().sum() > 0, name
        assert layer.lora_B.grad is not None and layer.lora_B.grad.abs().sum() > 0, name


def test_dropout_applies_in_training_only():
    layer = LoRALinear(nn.Linear(32, 32), rank=4, alpha=4, dropout=0.5)
    with torch.no_grad():
        layer.lora_B.normal_()
    x = torch.randn(8, 32)
    layer.train()
    assert not torch.equal(layer(x), layer(x))
    layer.eval()
    no_dropout = x @ (layer.weight + layer.lora_B @ layer.lora_A).T + layer.bias
    assert torch.allclose(layer(x), no_dropout, atol=1e-5)


def test_adapter_follows_the_base_dtype_and_merges_in_it():
    base = nn.Linear(16, 8).to(torch.bfloat16)
    layer = LoRALinear(base, rank=4, alpha=4)
    assert layer.lora_A.dtype == layer.lora_B.dtype == torch.bfloat16
    with torch.no_grad():
        layer.lora_B.normal_()
    expected = base.weight.float() + layer.lora_B.float() @ layer.lora_A.float()
    merged = layer.merge()
    assert merged.weight.dtype == torch.bfloat16
    assert torch.equal(merged.weight, expected.to(torch.bfloat16))


def one_line_error(model, targets, rank=4) -> str:
    with pytest.raises(ValueError) as err:
        add_lora(model, targets, rank=rank, alpha=8)
    assert "\n" not in str(err.value)
    return str(err.value)


def test_errors_name_what_is_wrong_and_leave_the_model_unchanged():
    model = tiny_model()
    assert "rank must be >= 1, got 0" in one_line_error(model, "attn", rank=0)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\), got 1.5"):
        add_lora(model, "attn", rank=4, alpha=8, dropout=1.5)

    msg = one_line_error(model, ALL, rank=40)  # the decoder's cross-attention q/k/v are 64 -> 32
    assert "rank 40" in msg and "mask_decoder.transformer." in msg and "width 32" in msg

    msg = one_line_error(
        model, ["image_encoder.blocks.*.attn.qkv", "image_encoder.blocks.*.atn.proj"]
    )
    assert "'image_encoder.blocks.*.atn.proj'" in msg and "image_encoder.blocks.0.attn.qkv" in msg
    assert "attn+mlp" in msg  # the presets are offered

    msg = one_line_error(model, "not_a_preset_nor_a_name")
    assert "'not_a_preset_nor_a_name'" in msg
    assert not any(isinstance(m, LoRALinear) for m in model.modules())

    add_lora(model, "image_encoder.blocks.0.attn.qkv", rank=4, alpha=8)
    msg = one_line_error(model, "attn")
    assert "image_encoder.blocks.0.attn.qkv already has a LoRA adapter" in msg
    assert sum(isinstance(m, LoRALinear) for m in model.modules()) == 1


def test_presets_resolve_on_the_tiny_vit_model():
    expected = {
        "attn": vit_names("attn.qkv", "attn.proj"),
        "attn+mlp": vit_names("attn.qkv", "attn.proj", "mlp.lin1", "mlp.lin2"),
        "attn+mlp+decoder": vit_names("attn.qkv", "attn.proj", "mlp.lin1", "mlp.lin2")
        | DECODER_PROJ,
    }
    assert set(LORA_TARGETS) == set(expected)
    for preset, names in expected.items():
        model = tiny_model()
        assert add_lora(model, preset, rank=4, alpha=8) == sorted(names)
        assert {n for n, m in model.named_modules() if isinstance(m, LoRALinear)} == names


def test_presets_resolve_on_light_hq_sam():
    with torch.device("meta"):
        model = build_sam_hq("vit_tiny")
    names = linear_names(model)
    attn = {
        n
        for n in names
        if n.startswith("image_encoder.layers.") and n.endswith((".attn.qkv", ".attn.proj"))
    }
    mlp = {
        n
        for n in names
        if n.startswith("image_encoder.layers.") and n.endswith((".mlp.fc1", ".mlp.fc2"))
    }
    assert attn and mlp
    assert set(add_lora(model, "attn+mlp+decoder", rank=4, alpha=8)) == attn | mlp | DECODER_PROJ
