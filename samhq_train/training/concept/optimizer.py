"""SAM 3's concept fine-tuning optimiser, as Meta's recipe builds it (roboflow_v100 full
fine-tune's `optim` and `scratch` sections): AdamW over param groups by (lr, weight decay).

Per parameter (names of a Sam3HQ with its detector attached, trainable.attach_detector; Meta's
Sam3Image names are the same without the "detector." prefix, and its inst_interactive_predictor.
model.* is our tracker.*):
- lr: `lr_vision_backbone` under detector.backbone.vision_backbone (Meta's
  'backbone.vision_backbone.*': the ViT trunk and both necks), `lr_language_backbone` under
  detector.backbone.language_backbone, `lr_transformer` for everything else; times the ViT trunk's
  layer-wise decay (`layer_decay` by sam3's ViT.get_layer_id, the position embedding at 1:
  training/param_rules.py). The recipe: 8e-4, 2.5e-4, 5e-5 times its lr_scale 0.1.
- weight decay: 0 for names containing "bias" and for nn.LayerNorm parameters, else
  `weight_decay`; constant over the run.
- every lr follows schedule.py's inverse-square-root schedule (a LambdaLR stepped once per
  optimiser step: Lightning's interval "step").
- gradient clipping: Meta's GradientClipper(max_norm 0.1, norm_type 2) runs
  clip_grad_norm_(model.parameters(), 0.1, 2) after unscaling, before the step; Lightning's
  trainer does the same over the optimiser's parameters with gradient_clip_val=0.1,
  gradient_clip_algorithm="norm" (lightning_clipping): the frozen parameters have no gradient,
  so the two see the same gradients.
"""

from __future__ import annotations

import torch
from torch import nn

from samhq_train.concept_settings import ConceptOptimSettings

from ..param_rules import (
    groups_by_lr_and_decay,
    trunk_lr_scale,
    vit_layer_id,
    without_weight_decay,
)
from .schedule import concept_lr_lambda

RECIPE = ConceptOptimSettings()  # the defaults: Meta's recipe


def concept_param_groups(model: nn.Module, settings: ConceptOptimSettings = RECIPE,
                         *, prefix: str = "detector.") -> list[dict]:
    """AdamW param groups of the model's trainable parameters (requires_grad), one per (lr,
    weight decay) pair, each with "param_names" beside "params". `prefix`: where Meta's
    Sam3Image names start ("detector." in a Sam3HQ; "" in a Sam3Image)."""
    s = settings
    vision, text = prefix + "backbone.vision_backbone.", prefix + "backbone.language_backbone."
    trunk = vision + "trunk."
    num_blocks = len(model.get_submodule(trunk[:-1]).blocks)
    plain = without_weight_decay(model)

    def lr_of(name: str) -> float:
        base = (s.lr_vision_backbone if name.startswith(vision)
                else s.lr_language_backbone if name.startswith(text) else s.lr_transformer)
        return base * trunk_lr_scale(name, trunk, num_blocks, s.layer_decay, vit_layer_id)

    return groups_by_lr_and_decay(
        (name, param, lr_of(name), 0.0 if name in plain else s.weight_decay)
        for name, param in model.named_parameters() if param.requires_grad
    )


def concept_optimizer(model: nn.Module, steps_per_epoch: int, epochs: int,
                      settings: ConceptOptimSettings = RECIPE,
                      *, prefix: str = "detector."):
    """(AdamW over concept_param_groups, its LambdaLR): step the scheduler once after every
    optimiser step (Lightning: interval "step"); the run has epochs x steps_per_epoch steps."""
    groups = concept_param_groups(model, settings, prefix=prefix)
    if not groups:
        raise ValueError("no trainable parameters: apply a concept policy first "
                         "(trainable.prepare_concept_model)")
    optimizer = torch.optim.AdamW(groups)
    factor = concept_lr_lambda(steps_per_epoch, epochs, timescale=settings.scheduler_timescale,
                               warmup=settings.scheduler_warmup,
                               cooldown=settings.scheduler_cooldown)
    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def lightning_clipping(settings: ConceptOptimSettings = RECIPE) -> dict:
    """The Lightning Trainer arguments that clip as Meta's GradientClipper does."""
    return {"gradient_clip_val": settings.gradient_clip, "gradient_clip_algorithm": "norm"}
