"""The one trainable filter: which parameters SAM-HQ learns (the HQ parts), everything else frozen."""

from collections.abc import Iterable

import torch
from torch import nn

HQ_MODULES = ("hf_token", "hf_mlp", "compress_vit_feat", "embedding_encoder", "embedding_maskfeature")


def is_hq_parameter(name: str) -> bool:
    """True for parameters of the five HQ modules of the mask decoder (official names, any prefix)."""
    return any(part in HQ_MODULES for part in name.split("."))


def hq_parameter_names(model: nn.Module) -> list[str]:
    return [name for name, _ in model.named_parameters() if is_hq_parameter(name)]


def mark_only_hq_as_trainable(model: nn.Module) -> nn.Module:
    for name, param in model.named_parameters():
        param.requires_grad_(is_hq_parameter(name))
    return model


def assert_only_hq_trainable(model: nn.Module) -> None:
    """Raise if a parameter outside the HQ parts requires grad, or an HQ one does not."""
    wrong = [n for n, p in model.named_parameters() if p.requires_grad != is_hq_parameter(n)]
    if wrong:
        raise RuntimeError(
            f"trainable parameters disagree with the HQ filter for {len(wrong)} tensors, first: "
            f"{wrong[:5]}; call mark_only_hq_as_trainable(model)"
        )


def hq_state_dict(model_or_state: nn.Module | dict) -> dict[str, torch.Tensor]:
    """The HQ entries of a model's (or a state dict's) parameters."""
    state = model_or_state.state_dict() if isinstance(model_or_state, nn.Module) else model_or_state
    return {k: v for k, v in state.items() if is_hq_parameter(k)}


def count_parameters(params: Iterable[torch.Tensor]) -> int:
    return sum(p.numel() for p in params)
