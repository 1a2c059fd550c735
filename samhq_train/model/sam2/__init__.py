"""SAM 2.1 family: Hiera trunk + FPN neck, SAM 2 prompt encoder and the HQ-SAM 2 mask decoder."""

from . import family
from .config import (
    META_VARIANTS,
    VARIANTS,
    DecoderConfig,
    HieraConfig,
    MemoryConfig,
    NeckConfig,
    Sam2Config,
)
from .family import build
from .model import Sam2Features, Sam2HQ

__all__ = [
    "family", "META_VARIANTS", "VARIANTS", "DecoderConfig", "HieraConfig", "MemoryConfig",
    "NeckConfig", "Sam2Config", "build", "Sam2Features", "Sam2HQ",
]
