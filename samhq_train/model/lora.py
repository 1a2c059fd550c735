"""LoRA adapters on nn.Linear layers that keep the official parameter names and merge away.

A wrapped layer keeps `weight` / `bias` under their names (`...attn.qkv.weight` stays
`...attn.qkv.weight`) and adds `lora_A` / `lora_B`; `merge_lora` folds the adapters into the
weights and restores plain nn.Linear modules, so a merged model saves like the original one.
"""

import math
from collections.abc import Sequence
from fnmatch import fnmatchcase

import torch
import torch.nn.functional as F
from torch import nn

_VIT_ATTN = ["image_encoder.blocks.*.attn.qkv", "image_encoder.blocks.*.attn.proj"]
_VIT_MLP = ["image_encoder.blocks.*.mlp.lin1", "image_encoder.blocks.*.mlp.lin2"]
# TinyViT (Light HQ-SAM); its layers[0] is convolutional and has no Linear to match
_TINY_VIT_ATTN = [
    "image_encoder.layers.*.blocks.*.attn.qkv",
    "image_encoder.layers.*.blocks.*.attn.proj",
]
_TINY_VIT_MLP = [
    "image_encoder.layers.*.blocks.*.mlp.fc1",
    "image_encoder.layers.*.blocks.*.mlp.fc2",
]
# Hiera (SAM 2.1)
_HIERA_ATTN = ["image_encoder.trunk.blocks.*.attn.qkv", "image_encoder.trunk.blocks.*.attn.proj"]
_HIERA_MLP = ["image_encoder.trunk.blocks.*.mlp.layers.*"]
# q/k/v/out projections of every two-way attention block and of final_attn_token_to_image
# SAM 3's ViT trunk (under the detector's vision backbone, shared with the interactive path)
_SAM3_VIT = "detector.backbone.vision_backbone.trunk.blocks.*."
_SAM3_VIT_ATTN = [_SAM3_VIT + "attn.qkv", _SAM3_VIT + "attn.proj"]
_SAM3_VIT_MLP = [_SAM3_VIT + "mlp.fc1", _SAM3_VIT + "mlp.fc2"]
_DECODER_ATTN = [
    "mask_decoder.transformer.*_proj",
    "sam_mask_decoder.transformer.*_proj",
    "tracker.sam_mask_decoder.transformer.*_proj",
]

# Presets cover every image encoder family; a preset pattern that matches nothing in the given
# model (the TinyViT patterns on a ViT model, say) is skipped. Patterns given by the caller must
# each match at least one nn.Linear.
_ATTN = _VIT_ATTN + _TINY_VIT_ATTN + _HIERA_ATTN + _SAM3_VIT_ATTN
_MLP = _VIT_MLP + _TINY_VIT_MLP + _HIERA_MLP + _SAM3_VIT_MLP
LORA_TARGETS: dict[str, list[str]] = {
    "attn": _ATTN,
    "attn+mlp": _ATTN + _MLP,
    "attn+mlp+decoder": _ATTN + _MLP + _DECODER_ATTN,
}


class LoRALinear(nn.Linear):
    """y = x W^T + b + dropout(x) A^T B^T * alpha / rank, sharing W and b with the wrapped layer.

    A (rank x in) is kaiming-uniform and B (out x rank) zero, so a fresh adapter changes nothing.
    """

    def __init__(self, base: nn.Linear, *, rank: int, alpha: float, dropout: float = 0.0) -> None:
        # built on meta, then given the base layer's own Parameters: nothing is copied
        super().__init__(
            base.in_features, base.out_features, bias=base.bias is not None, device="meta"
        )
        self.weight = base.weight
        self.bias = base.bias
        self.rank = rank
        self.alpha = alpha
        self.scaling = alpha / rank
        like = {"device": base.weight.device, "dtype": base.weight.dtype}
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features, **like))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank, **like))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.lora_dropout = nn.Dropout(dropout)
        self.train(base.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        adapter = F.linear(F.linear(self.lora_dropout(x), self.lora_A), self.lora_B)
        return F.linear(x, self.weight, self.bias) + adapter * self.scaling

    def merge(self) -> nn.Linear:
        """Fold B A * scaling into the weight in place; a plain nn.Linear on the same Parameters.

        lora_A / lora_B are left as they are (an adapter state dict taken before still holds them),
        so this layer itself must not be used after merging.
        """
        with torch.no_grad():
            delta = (self.lora_B.float() @ self.lora_A.float()) * self.scaling
            self.weight.copy_(self.weight.float() + delta)
        linear = nn.Linear(
            self.in_features, self.out_features, bias=self.bias is not None, device="meta"
        )
        linear.weight = self.weight
        linear.bias = self.bias
        return linear.train(self.training)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, rank={self.rank}, alpha={self.alpha}, dropout={self.lora_dropout.p}"


def add_lora(
    model: nn.Module, targets: str | Sequence[str], rank: int, alpha: float, dropout: float = 0.0
) -> list[str]:
    """Wrap the nn.Linear modules named by `targets` in LoRALinear, in place; their names, sorted.

    `targets` is a preset name of LORA_TARGETS or fnmatch patterns on qualified module names
    (`*` also crosses dots). Checks everything before wrapping, so on error the model is unchanged.
    """
    if rank < 1:
        raise ValueError(f"LoRA rank must be >= 1, got {rank}")
    if not 0 <= dropout < 1:
        raise ValueError(f"LoRA dropout must be in [0, 1), got {dropout}")
    linears = {name: m for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    names = sorted(_matching_names(linears, targets))
    for name in names:
        layer = linears[name]
        if isinstance(layer, LoRALinear):
            raise ValueError(
                f"{name} already has a LoRA adapter: call add_lora once per layer or merge_lora first"
            )
        width = min(layer.in_features, layer.out_features)
        if rank > width:
            raise ValueError(
                f"LoRA rank {rank} exceeds {name}'s width {width} "
                f"({layer.in_features} -> {layer.out_features}): use rank <= {width} or leave the layer out"
            )
    for name in names:
        _set_submodule(
            model, name, LoRALinear(linears[name], rank=rank, alpha=alpha, dropout=dropout)
        )
    return names


def _matching_names(linears: dict[str, nn.Linear], targets: str | Sequence[str]) -> set[str]:
    is_preset = isinstance(targets, str) and targets in LORA_TARGETS
    if is_preset:
        patterns = LORA_TARGETS[targets]
    else:
        patterns = [targets] if isinstance(targets, str) else list(targets)
    names = set()
    for pattern in patterns:
        matched = {name for name in linears if fnmatchcase(name, pattern)}
        if not matched and not is_preset:
            raise ValueError(
                f"LoRA target {pattern!r} matches no nn.Linear; use a preset of {sorted(LORA_TARGETS)} or a glob "
                f"on Linear module names such as {_examples(linears)}"
            )
        names |= matched
    if not names:
        raise ValueError(
            f"LoRA preset {targets!r} matches no nn.Linear of this model; "
            f"give glob patterns on Linear module names such as {_examples(linears)}"
        )
    return names


def _examples(linears: dict[str, nn.Linear], count: int = 4) -> str:
    """A few names spread over the model, so that every part shows its naming."""
    names = list(linears)
    if not names:
        return "none (the model has no nn.Linear)"
    spread = names[:: max(1, len(names) // count)][:count]
    return ", ".join(spread) + f" ({len(names)} in all)"


def _set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent), child, module)


def merge_lora(model: nn.Module) -> nn.Module:
    """Fold every adapter into its weight and put back plain nn.Linear modules, in place.

    The result has the original module types and state_dict keys; without adapters it is a no-op.
    """
    for name in [n for n, m in model.named_modules() if isinstance(m, LoRALinear)]:
        _set_submodule(model, name, model.get_submodule(name).merge())
    return model


def is_lora_key(name: str) -> bool:
    """True for parameter / state_dict names whose last part is lora_A or lora_B."""
    return name.rpartition(".")[2] in ("lora_A", "lora_B")


def lora_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The adapter tensors only, under their full names: what an adapter checkpoint keeps."""
    return {k: v for k, v in model.state_dict().items() if is_lora_key(k)}


def lora_config_of(model: nn.Module) -> dict | None:
    """How the adapters were added: `add_lora(fresh_model, **config)` rebuilds them; None without."""
    layers = {name: m for name, m in model.named_modules() if isinstance(m, LoRALinear)}
    if not layers:
        return None
    settings = {(m.rank, m.alpha, m.lora_dropout.p) for m in layers.values()}
    if len(settings) > 1:
        raise ValueError(
            f"LoRA adapters differ in (rank, alpha, dropout): {sorted(settings)}; one config cannot describe them"
        )
    rank, alpha, dropout = settings.pop()
    return {"targets": sorted(layers), "rank": rank, "alpha": alpha, "dropout": dropout}


def load_base_state_dict(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Load a plain (official or merged) state dict into a model with adapters.

    Strict except that the model's lora_A / lora_B may be missing from `state` (they keep their
    values); any other missing or unexpected key raises before anything is loaded.
    """
    expected = model.state_dict().keys()
    missing = sorted(k for k in expected - state.keys() if not is_lora_key(k))
    unexpected = sorted(state.keys() - expected)
    if missing or unexpected:
        raise ValueError(
            f"state dict does not fit the model beyond its LoRA keys: {len(missing)} missing "
            f"{missing[:3]}, {len(unexpected)} unexpected {unexpected[:3]}; is it for this variant?"
        )
    model.load_state_dict(state, strict=False)
