"""The registry of model families: each family's variants, builder, HQ key set and file detection.

Adding a family is a new folder (its configs, modules and format rules) plus one entry in
FAMILIES. Nothing here reads files: checkpoint I/O sits on top of this module.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from . import sam1, sam2, sam3


@dataclass(frozen=True)
class Family:
    name: str
    variants: Mapping[str, object]  # variant name -> the family's config dataclass
    build: Callable[[object], nn.Module]  # config -> model with default-initialised weights
    hq_modules: tuple[str, ...]  # the HQ parts, by official module name
    detect_variant: Callable[[dict], str | None]  # a state dict (full or HQ-only) -> variant
    owns_state: Callable[[dict], bool]  # whether a state dict has this family's key names
    decoder_prefix: str  # SAM's mask decoder (what the hq+decoder policy also trains)
    aliases: Mapping[str, str] = field(default_factory=dict)  # earlier variant names -> current
    # state dict -> the object an official full file of this family holds
    official_layout: Callable[[dict], object] = lambda state: state

    def is_hq_key(self, key: str) -> bool:
        """True for state-dict keys of the HQ parts (official names, any prefix)."""
        return any(part in self.hq_modules for part in key.split("."))


FAMILIES: dict[str, Family] = {
    "sam1": Family(
        name="sam1",
        variants=sam1.VARIANTS,
        build=sam1.build_from_config,
        hq_modules=sam1.family.HQ_MODULES,
        detect_variant=sam1.family.detect_variant,
        owns_state=sam1.family.owns_state,
        decoder_prefix="mask_decoder.",
        aliases=sam1.VARIANT_ALIASES,
    ),
    "sam2": Family(
        name="sam2",
        variants=sam2.VARIANTS,
        build=sam2.build,
        hq_modules=sam2.family.HQ_MODULES,
        detect_variant=sam2.family.detect_variant,
        owns_state=sam2.family.owns_state,
        decoder_prefix="sam_mask_decoder.",
        aliases=sam2.META_VARIANTS,
        official_layout=sam2.family.official_layout,
    ),
    "sam3": Family(
        name="sam3",
        variants=sam3.VARIANTS,
        build=sam3.build,
        hq_modules=sam3.family.HQ_MODULES,
        detect_variant=sam3.family.detect_variant,
        owns_state=sam3.family.owns_state,
        decoder_prefix=sam3.family.DECODER_PREFIX,
        aliases=sam3.META_VARIANTS,
        official_layout=sam3.family.official_layout,
    ),
}

VARIANTS: dict[str, object] = {v: cfg for fam in FAMILIES.values() for v, cfg in fam.variants.items()}


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


def variant_config(variant: str):
    variant = canonical_variant(variant)
    return family_of_variant(variant).variants[variant]


def variant_of_config(cfg) -> str | None:
    matches = [name for name, c in VARIANTS.items() if c == cfg]
    return matches[0] if matches else None


def build_model(variant: str, *, seed: int | None = None) -> nn.Module:
    """A variant with PyTorch's default init (drawn under `seed` when given, so a random
    backbone is reproducible), in eval mode."""
    cfg = variant_config(variant)
    build = family_of_variant(variant).build
    if seed is None:
        return build(cfg).eval()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build(cfg).eval()
