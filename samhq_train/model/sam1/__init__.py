"""SAM 1 family: ViT-B/L/H and Light HQ-SAM's TinyViT encoders, prompt encoder, HQ mask decoder."""

from .config import VARIANT_ALIASES, VARIANTS, SamHQConfig, TinyViTConfig
from .family import FAMILY, build
from .model import SamHQ
from .processing import LongestSideProcessing

__all__ = [
    "FAMILY",
    "VARIANT_ALIASES",
    "VARIANTS",
    "SamHQConfig",
    "TinyViTConfig",
    "build",
    "SamHQ",
    "LongestSideProcessing",
]
