"""SAM 1 family: ViT-B/L/H and Light HQ-SAM's TinyViT encoders, prompt encoder, HQ mask decoder."""

from . import family
from .config import VARIANT_ALIASES, VARIANTS, SamHQConfig, TinyViTConfig, build_from_config
from .sam_hq import SamHQ

__all__ = ["family", "VARIANT_ALIASES", "VARIANTS", "SamHQConfig", "TinyViTConfig", "build_from_config", "SamHQ"]
