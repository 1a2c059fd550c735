"""The per-parameter optimiser rules that Meta's training recipes share (sam2's video fine-tune,
sam3's concept fine-tune): layer-wise learning-rate decay over an image trunk's blocks, no weight
decay for biases and LayerNorms, and AdamW param groups keyed by (lr, weight decay).

Layer decay (BEiT's rule, as Meta's layer_decay_param_modifier applies it): with L blocks, a trunk
parameter of layer id k gets decay^(L + 1 - k); the trunk's own get_layer_id gives k (0 for the
embeddings, i + 1 for block i, L + 1 for the rest), and the position embeddings are overridden to
scale 1 ("*pos_embed*", the override both recipes set).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable

from torch import nn

NO_LR_DECAY = "*pos_embed*"  # the recipes' override: the trunk's position embeddings at scale 1


def _block_index(name: str) -> int:
    return int(name.split("blocks")[1].split(".")[1])


def hiera_layer_id(name: str, num_blocks: int) -> int:
    """sam2's Hiera.get_layer_id of a trunk parameter's name."""
    if "rel_pos" in name:
        return num_blocks + 1
    if "pos_embed" in name or "patch_embed" in name:
        return 0
    if "blocks" in name:
        return _block_index(name) + 1
    return num_blocks + 1


def vit_layer_id(name: str, num_blocks: int) -> int:
    """sam3's ViT.get_layer_id: as Hiera's, and the pre-norm (ln_pre) and a cls token are layer 0
    too."""
    if "rel_pos" in name:
        return num_blocks + 1
    if any(part in name for part in ("ln_pre", "pos_embed", "cls_token", "patch_embed")):
        return 0
    if "blocks" in name:
        return _block_index(name) + 1
    return num_blocks + 1


LayerId = Callable[[str, int], int]


def trunk_lr_scale(name: str, trunk: str, num_blocks: int, layer_decay: float,
                   layer_id: LayerId = hiera_layer_id) -> float:
    """The layer-wise decay factor of a parameter: 1 outside the trunk (whose names start with
    `trunk`) and for the position embeddings; layer_id reads the name within the trunk."""
    if not name.startswith(trunk) or fnmatch.fnmatchcase(name, NO_LR_DECAY):
        return 1.0
    return layer_decay ** (num_blocks + 1 - layer_id(name[len(trunk):], num_blocks))


def without_weight_decay(model: nn.Module) -> set[str]:
    """Names matching "*bias*" and the parameters owned by nn.LayerNorm modules (exactly that
    class, as Meta's module_cls_names matching: a LayerNorm2d keeps its decay)."""
    names = {name for name, _ in model.named_parameters() if "bias" in name}
    for prefix, module in model.named_modules():
        if type(module) is nn.LayerNorm:
            names |= {f"{prefix}.{n}" if prefix else n
                      for n, _ in module.named_parameters(recurse=False)}
    return names


def groups_by_lr_and_decay(entries: Iterable[tuple[str, nn.Parameter, float, float]]) -> list[dict]:
    """AdamW param groups of (name, parameter, lr, weight decay) entries, one per (lr, weight
    decay) pair in ascending order, each with "param_names" beside "params"."""
    groups: dict[tuple[float, float], dict] = {}
    for name, param, lr, weight_decay in entries:
        group = groups.setdefault((lr, weight_decay), {"params": [], "param_names": [], "lr": lr,
                                                       "weight_decay": weight_decay})
        group["params"].append(param)
        group["param_names"].append(name)
    return [groups[key] for key in sorted(groups)]
