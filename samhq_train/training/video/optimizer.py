"""SAM 2's video fine-tuning optimiser (the MOSE fine-tune's `optim` section) as param groups.

Per parameter: the learning rate is `vision_lr` for the image encoder (found by identity: SAM 3's
lives under detector.*) and `lr` for the rest, times the layer-wise decay of the encoder's trunk
(BEiT's rule, as sam2's layer_decay_param_modifier applies it with Hiera.get_layer_id; SAM 3's ViT
by the same rule, for which no SAM 3 tracker recipe exists; training/param_rules.py): with L
blocks, block i gets decay^(L - i), the patch embedding decay^(L + 1), the position embeddings
(override) and every other trunk parameter 1;
weight decay is 0 for names containing "bias" and for the parameters of nn.LayerNorm modules
(exactly that class, as sam2's module_cls_names matching; LayerNorm2d keeps its decay), else
`weight_decay`. Every learning rate follows the same cosine from its start value to a tenth.
The settings' defaults: VideoOptimSettings (samhq_train/video_settings.py).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..param_rules import groups_by_lr_and_decay, trunk_lr_scale, without_weight_decay


def video_param_groups(model: nn.Module, *, lr: float, vision_lr: float, weight_decay: float,
                       layer_decay: float = 1.0) -> list[dict]:
    """AdamW param groups of the trainable parameters, one per (lr, weight decay) pair, each
    with "param_names" (its parameters' names) beside "params"."""
    encoder = model.image_encoder
    trunk = next(name for name, module in model.named_modules() if module is encoder.trunk) + "."
    num_blocks = len(encoder.trunk.blocks)
    vision = {id(p) for p in encoder.parameters()}
    plain = without_weight_decay(model)
    return groups_by_lr_and_decay(
        (name, param,
         (vision_lr if id(param) in vision else lr)
         * trunk_lr_scale(name, trunk, num_blocks, layer_decay),
         0.0 if name in plain else weight_decay)
        for name, param in model.named_parameters() if param.requires_grad
    )


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
