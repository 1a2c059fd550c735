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

from .registry import family_of_model

# preset -> the parts of the model's family (Family.lora_targets) whose globs it takes. Within a
# preset, a family glob that matches nothing in the given model (TinyViT's on a ViT model, say) is
# skipped; patterns given by the caller must each match at least one nn.Linear.
LORA_TARGETS: dict[str, tuple[str, ...]] = {
    "attn": ("attn",),
    "attn+mlp": ("attn", "mlp"),
    "attn+mlp+decoder": ("attn", "mlp", "decoder"),
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
        dropout = self.lora_dropout.p
        return f"{super().extra_repr()}, rank={self.rank}, alpha={self.alpha}, dropout={dropout}"


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
    names = sorted(_matching_names(model, linears, targets))
    for name in names:
        layer = linears[name]
        if isinstance(layer, LoRALinear):
            raise ValueError(
                f"{name} already has a LoRA adapter: call add_lora once per layer or "
                "merge_lora first"
            )
        width = min(layer.in_features, layer.out_features)
        if rank > width:
            raise ValueError(
                f"LoRA rank {rank} exceeds {name}'s width {width} "
                f"({layer.in_features} -> {layer.out_features}): use rank <= {width} or leave "
                "the layer out"
            )
    for name in names:
        _set_submodule(
            model, name, LoRALinear(linears[name], rank=rank, alpha=alpha, dropout=dropout)
        )
    return names


def _matching_names(
    model: nn.Module, linears: dict[str, nn.Linear], targets: str | Sequence[str]
) -> set[str]:
    is_preset = isinstance(targets, str) and targets in LORA_TARGETS
    if is_preset:
        if not hasattr(model, "family"):
            raise ValueError(
                f"LoRA preset {targets!r} needs a model of a registered family; give glob "
                f"patterns on Linear module names such as {_examples(linears)}"
            )
        patterns = family_of_model(model).lora_patterns(LORA_TARGETS[targets])
    else:
        patterns = [targets] if isinstance(targets, str) else list(targets)
    names = set()
    for pattern in patterns:
        matched = {name for name in linears if fnmatchcase(name, pattern)}
        if not matched and not is_preset:
            raise ValueError(
                f"LoRA target {pattern!r} matches no nn.Linear; use a preset of "
                f"{sorted(LORA_TARGETS)} or a glob "
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
