"""SAM 2's video fine-tuning optimiser (the MOSE fine-tune's `optim` section) as param groups.

Per parameter: the learning rate is `vision_lr` for the image encoder (found by identity: SAM 3's
lives under detector.*) and `lr` for the rest, times the layer-wise decay of the encoder's trunk
(BEiT's rule, as sam2's layer_decay_param_modifier applies it with Hiera.get_layer_id; SAM 3's ViT
by the same rule, for which no SAM 3 tracker recipe exists): with L blocks, block i gets
decay^(L - i), the patch embedding decay^(L + 1), the position embeddings (override) and every
other trunk parameter 1;
weight decay is 0 for names containing "bias" and for the parameters of nn.LayerNorm modules
(exactly that class, as sam2's module_cls_names matching; LayerNorm2d keeps its decay), else
`weight_decay`. Every learning rate follows the same cosine from its start value to a tenth.
"""

from __future__ import annotations

import fnmatch
import math

import torch
from torch import nn

NO_LR_DECAY = "*pos_embed*"  # the config's override: the trunk's position embeddings at scale 1


def trunk_layer_id(name: str, num_blocks: int) -> int:
    """Hiera.get_layer_id of a trunk parameter's full name."""
    if "rel_pos" in name:
        return num_blocks + 1
    if "pos_embed" in name or "patch_embed" in name:
        return 0
    if "blocks" in name:
        return int(name.split("blocks")[1].split(".")[1]) + 1
    return num_blocks + 1


def lr_scale(name: str, trunk: str, num_blocks: int, layer_decay: float) -> float:
    """The layer-wise decay factor of a parameter (1 outside the trunk, whose names start with
    `trunk`)."""
    if not name.startswith(trunk) or fnmatch.fnmatchcase(name, NO_LR_DECAY):
        return 1.0
    return layer_decay ** (num_blocks + 1 - trunk_layer_id(name, num_blocks))


def without_weight_decay(model: nn.Module) -> set[str]:
    """Names matching "*bias*" and the parameters owned by nn.LayerNorm modules."""
    names = {name for name, _ in model.named_parameters() if "bias" in name}
    for prefix, module in model.named_modules():
        if type(module) is nn.LayerNorm:
            names |= {f"{prefix}.{n}" if prefix else n
                      for n, _ in module.named_parameters(recurse=False)}
    return names


def video_param_groups(model: nn.Module, *, lr: float, vision_lr: float, weight_decay: float,
                       layer_decay: float = 1.0) -> list[dict]:
    """AdamW param groups of the trainable parameters, one per (lr, weight decay) pair, each
    with "param_names" (its parameters' names) beside "params"."""
    encoder = model.image_encoder
    trunk = next(name for name, module in model.named_modules() if module is encoder.trunk) + "."
    num_blocks = len(encoder.trunk.blocks)
    vision = {id(p) for p in encoder.parameters()}
    plain = without_weight_decay(model)
    groups: dict[tuple[float, float], dict] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        base = vision_lr if id(param) in vision else lr
        key = (base * lr_scale(name, trunk, num_blocks, layer_decay),
               0.0 if name in plain else weight_decay)
        group = groups.setdefault(key, {"params": [], "param_names": [], "lr": key[0],
                                        "weight_decay": key[1]})
        group["params"].append(param)
        group["param_names"].append(name)
    return [groups[key] for key in sorted(groups)]


def cosine_to_tenth(total_steps: int):
    """The learning-rate factor at a step: cosine from 1 to 0.1 over total_steps, then 0.1."""
    total = max(int(total_steps), 1)

    def factor(step: int) -> float:
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(step, total) / total))

    return factor


def video_optimizer(model: nn.Module, total_steps: int, **settings):
    """(AdamW, its per-step LambdaLR) over video_param_groups(model, **settings)."""
    optimizer = torch.optim.AdamW(video_param_groups(model, **settings))
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, cosine_to_tenth(total_steps))
