"""The serving rule every family's bf16 CPU blocks share (cpu_kernels.blocks_serve), checked the
same way for SAM 1's, SAM 3's and SAM 2.1's blocks."""

import torch
from torch import nn

from samhq_train.model.lora import LoRALinear


def assert_serving_rule(
    serves, model: nn.Module, x: torch.Tensor, hooked: nn.Module, lora_parent: nn.Module, name: str
) -> None:
    """`serves(model.blocks, x)` only under CPU bf16 autocast without autograd, for fp32 tokens,
    with no hook on a layer (`hooked`) and no LoRA layer (put in place of `lora_parent`'s
    `name`, left there). The model's parameters require gradients on entry."""
    blocks = model.blocks
    model.requires_grad_(True)
    bf16 = torch.autocast("cpu", dtype=torch.bfloat16)
    assert not serves(blocks, x)  # fp32
    with bf16:
        assert not serves(blocks, x)  # autograd into the weights
        with torch.no_grad():
            assert serves(blocks, x)
            assert not serves(blocks, x.bfloat16())
        model.requires_grad_(False)
        assert serves(blocks, x)  # frozen encoder
        assert not serves(blocks, x.clone().requires_grad_())
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.float16):
        assert not serves(blocks, x)
    with torch.no_grad(), bf16:
        handle = hooked.register_forward_hook(lambda *a: None)
        assert not serves(blocks, x)  # a hook expects the layer to be called
        handle.remove()
        assert serves(blocks, x)
        layer = getattr(lora_parent, name)
        setattr(lora_parent, name, LoRALinear(layer, rank=2, alpha=2.0))
        assert not serves(blocks, x)
