"""The `concept` group's settings records (SAM 3 concept fine-tuning, experiment=concept_finetune):
what trains (ConceptPolicy, its LoRA defaults CONCEPT_LORA), the optimiser and schedule
(ConceptOptimSettings) and whether the loss has mask terms (CONCEPT_WITH_MASKS).

They are the one home of these defaults: config_defaults.py stores them as `concept_defaults`,
which conf/experiment/concept_finetune.yaml names in its defaults list (`python train.py
experiment=concept_finetune --cfg job` shows them), and training/concept reads the config back
into them. A bad value is a SettingError naming its full key (settings.py).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from samhq_train.model.lora import is_lora_key
from samhq_train.model.policy import LoraSettings
from samhq_train.settings import (
    SettingError,
    int_at_least,
    known_keys,
    number,
    one_of,
    require,
    settings_mapping,
)

KEY_PREFIX = "concept"  # the config group whose keys these settings are

# concept.policy:
#   full           Meta's recipe: the whole detector (ViT trunk and text encoder included; the
#                  most memory)
#   detector       trunk and text encoder frozen, the rest of the detector trains (no trunk
#                  gradients: a smaller GPU)
#   detector+lora  as detector plus LoRA on the trunk (concept.lora.*)
# (training/concept/trainable.py says which parameters each one trains and why)
CONCEPT_POLICIES = ("full", "detector", "detector+lora")
DETECTOR = "detector."
VISION = DETECTOR + "backbone.vision_backbone."
TRUNK = VISION + "trunk."
TEXT = DETECTOR + "backbone.language_backbone."
INTERACTIVE_NECK = VISION + "sam2_convs."  # the tracker's neck: no gradient from the detection
TRUNK_LORA_PRESETS = ("attn", "attn+mlp")  # the sam3 family's presets on the trunk's blocks
# concept.lora (policy detector+lora only): alpha 8, not model.lora's 16
CONCEPT_LORA = LoraSettings(alpha=8.0)
# the settings one policy reads and the others ignore: concept.<key> -> that policy
CONCEPT_POLICY_OWN_KEYS = {
    f"lora.{key}": "detector+lora" for key in LoraSettings.__dataclass_fields__
}
# concept.with_masks: false is the recipe's box-only loss; true adds the mask terms
# (training/concept/loss.py, ConceptLossSettings)
CONCEPT_WITH_MASKS = False


@dataclass(frozen=True)
class ConceptOptimSettings:
    """The recipe's optimiser settings (defaults: Meta's roboflow_v100 full fine-tune; AdamW,
    training/concept/optimizer.py)."""

    lr_transformer: float = 8e-5  # everything but the vision / language backbones (recipe x 0.1)
    lr_vision_backbone: float = 2.5e-5  # ViT trunk and necks, trunk blocks decayed by layer_decay
    lr_language_backbone: float = 5e-6
    layer_decay: float = 0.9  # over the ViT trunk's blocks
    weight_decay: float = 0.1  # 0 on biases and LayerNorms
    scheduler_timescale: int = 20  # inverse square root, in optimiser steps
    scheduler_warmup: int = 20
    scheduler_cooldown: int = 20
    gradient_clip: float = 0.1  # max L2 norm of the gradients over the trained parameters

    def __post_init__(self):
        for field in fields(self):
            key, value = f"{KEY_PREFIX}.{field.name}", getattr(self, field.name)
            if field.name == "layer_decay":
                number(key, value, lambda v: 0 < v <= 1, "a number in (0, 1]")
            elif field.name == "weight_decay":
                number(key, value, lambda v: v >= 0, "a number >= 0")
            elif field.name == "scheduler_timescale":
                int_at_least(key, value, 1)
            elif field.name.startswith("scheduler_"):
                int_at_least(key, value, 0)
            else:
                number(key, value, lambda v: v > 0, "a number > 0")

    @classmethod
    def from_config(cls, **values) -> ConceptOptimSettings:
        """From plain config values; a SettingError naming the key for an unknown or bad one."""
        known_keys(KEY_PREFIX, list(values), [f.name for f in fields(cls)])
        return cls(**values)


@dataclass(frozen=True)
class ConceptPolicy:
    """concept.policy of a concept fine-tune (one of CONCEPT_POLICIES) and its LoRA settings
    (concept.lora.*, read by detector+lora only)."""

    name: str = "full"
    lora: LoraSettings = CONCEPT_LORA

    def __post_init__(self):
        one_of(f"{KEY_PREFIX}.policy", self.name, CONCEPT_POLICIES)
        require(f"{KEY_PREFIX}.lora", self.lora, lambda v: isinstance(v, LoraSettings),
                "LoRA settings")
        require(
            f"{KEY_PREFIX}.lora.targets", self.lora.targets,
            lambda v: self.name != "detector+lora" or not isinstance(v, str)
            or "*" in v or "." in v or v in TRUNK_LORA_PRESETS,
            f"one of {', '.join(TRUNK_LORA_PRESETS)} or module-name patterns (policy "
            "detector+lora adapts the ViT trunk; the interactive decoder gets no gradient from "
            "the concept loss)")

    @classmethod
    def from_config(cls, name: str = "full", lora=None) -> ConceptPolicy:
        """From plain config values (concept.policy, a concept.lora mapping); one line naming the
        key for a bad one."""
        known = list(LoraSettings.__dataclass_fields__)
        lora = settings_mapping(f"{KEY_PREFIX}.lora", lora, known)
        known_keys(f"{KEY_PREFIX}.lora", list(lora), known)
        try:
            settings = replace(CONCEPT_LORA, **lora)
        except SettingError as err:  # LoraSettings names image training's keys, model.lora.*
            ours = f"{KEY_PREFIX}.lora"
            raise SettingError(err.key.replace("model.lora", ours),
                               message=str(err).replace("model.lora", ours)) from None
        return cls(name=name, lora=settings)

    def trains(self, name: str) -> bool:
        """Whether the parameter of this name (a Sam3HQ's, detector attached) trains."""
        if self.name == "detector+lora" and is_lora_key(name):
            return True
        if not name.startswith(DETECTOR) or name.startswith(INTERACTIVE_NECK):
            return False
        if self.name == "full":
            return True
        return not name.startswith((TRUNK, TEXT))

    @property
    def trunk_needs_grad(self) -> bool:
        """Whether the ViT trunk runs with autograd (else its maps may be cached)."""
        return self.name != "detector"

    @property
    def text_needs_grad(self) -> bool:
        """Whether the text encoder runs with autograd (else its features may be cached)."""
        return self.name == "full"


__all__ = [
    "CONCEPT_LORA",
    "CONCEPT_POLICIES",
    "CONCEPT_POLICY_OWN_KEYS",
    "CONCEPT_WITH_MASKS",
    "DETECTOR",
    "INTERACTIVE_NECK",
    "KEY_PREFIX",
    "TEXT",
    "TRUNK",
    "TRUNK_LORA_PRESETS",
    "VISION",
    "ConceptOptimSettings",
    "ConceptPolicy",
]
