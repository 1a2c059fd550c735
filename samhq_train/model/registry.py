"""The registry of model families: FAMILIES lists each family's record (family_record.Family).

Adding a family is a new folder plus its line here: the folder (like sam1/, sam2/) holds its
config.py (variants), model.py (the PromptableModel), processing.py (its input rule), onnx.py
(its ONNX prompt decoder) and family.py with `build(config)` and `FAMILY = Family(...)`; the
registry line imports that FAMILY (and its name joins the tuple in FAMILIES). Checkpoints,
policies, LoRA, the predictor, evaluation and export ask the record; outside the package, a
conf/model/<variant>.yaml names each variant for Hydra. A family record provides (the fields after decoder_prefix may be left out: "not supported"):

  name                the family's name (the model class's `family`)
  variants            variant name -> config; aliases: earlier variant names -> current
  build               config -> model with PyTorch's default init
  hq_modules          the HQ parts' module names (the format rule: SAM, SAM-HQ or HQ-only file)
  detect_variant      state dict -> variant; owns_state: whether a state dict has its key names
  decoder_prefix      SAM's mask decoder (what the hq+decoder policy also trains)
  processing          image_size -> the input rule (resize, prompt coordinates, mask
                      post-processing, normalisation); the model's `processing` is the same
  official_files      variant -> the official file that training starts from
  official_layout     state dict -> what an official full file holds
  lora_targets        LoRA globs per part ("attn", "mlp", "decoder"); empty: patterns only
  onnx_decoder        the ONNX prompt-decoder wrapper class; None: no ONNX export
  transformers_codec  the transformers directory codec; None: no transformers model exists
  attention           the encoder's attention-kernel setter; None: SDPA only (flex refused)
  has_int8_encoder    config -> whether its image encoder has the int8 switch (default: none)
  adopt_state         (model, state) -> gives the model a file's tensors it keeps but does not
                      compute (SAM 3's detector); None: the model computes all it holds
  base_config         config -> the config without the HQ design; variants with equal bases read
                      each other's files (identity by default)

Nothing here reads files: checkpoint I/O sits on top of this module.
"""

import torch
from torch import nn

from .family_record import ATTENTION_KERNELS, Family
from .sam1 import FAMILY as SAM1
from .sam2 import FAMILY as SAM2
from .sam3 import FAMILY as SAM3

FAMILIES: dict[str, Family] = {family.name: family for family in (SAM1, SAM2, SAM3)}

# the families whose models track objects through a video (samhq-video, video fine-tuning)
VIDEO_FAMILIES: tuple[str, ...] = tuple(n for n, f in FAMILIES.items() if f.has_video_tracker)

VARIANTS: dict[str, object] = {
    v: cfg for fam in FAMILIES.values() for v, cfg in fam.variants.items()
}

__all__ = [
    "ATTENTION_KERNELS",
    "FAMILIES",
    "VARIANTS",
    "VIDEO_FAMILIES",
    "Family",
    "build_model",
    "canonical_variant",
    "family_of_model",
    "family_of_state",
    "family_of_variant",
    "official_file",
    "set_attention_kernel",
    "variant_config",
    "variant_of_config",
]


def canonical_variant(variant: str) -> str:
    """The current name of a variant (earlier names are accepted); one line if it is unknown."""
    for fam in FAMILIES.values():
        if variant in fam.variants:
            return variant
        if variant in fam.aliases:
            return fam.aliases[variant]
    raise ValueError(f"unknown SAM-HQ variant {variant!r}; choose one of {sorted(VARIANTS)}")


def family_of_variant(variant: str) -> Family:
    variant = canonical_variant(variant)
    return next(fam for fam in FAMILIES.values() if variant in fam.variants)


def family_of_model(model: nn.Module) -> Family:
    return FAMILIES[model.family]


def family_of_state(state: dict) -> Family | None:
    owners = [fam for fam in FAMILIES.values() if fam.owns_state(state)]
    return owners[0] if len(owners) == 1 else None


def official_file(variant: str) -> str | None:
    """The name of the official file that training a variant starts from; None for a variant
    without one (and for an unknown name: the caller's variant check names that)."""
    for fam in FAMILIES.values():
        name = fam.aliases.get(variant, variant)
        if name in fam.official_files:
            return fam.official_files[name]
    return None


def variant_config(variant: str):
    variant = canonical_variant(variant)
    return family_of_variant(variant).variants[variant]


def variant_of_config(cfg) -> str | None:
    matches = [name for name, c in VARIANTS.items() if c == cfg]
    return matches[0] if matches else None


def build_model(variant: str, *, seed: int | None = None) -> nn.Module:
    """A variant with PyTorch's default init (drawn under `seed` when given, so a random
    backbone is reproducible), in eval mode. Internal: build_sam_hq is the public builder."""
    cfg = variant_config(variant)
    build = family_of_variant(variant).build
    if seed is None:
        return build(cfg).eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build(cfg).eval()


def set_attention_kernel(model: nn.Module, kernel: str) -> None:
    """model.attention, through the model's family record (Family.set_attention_kernel)."""
    family_of_model(model).set_attention_kernel(model, kernel)
