"""SAM 2.1 family: Hiera trunk + FPN neck, SAM 2 prompt encoder and the HQ-SAM 2 mask decoder."""

from .config import (
    META_VARIANTS,
    VARIANTS,
    DecoderConfig,
    HieraConfig,
    MemoryConfig,
    NeckConfig,
    Sam2Config,
    TrackingConfig,
)
from .family import FAMILY, build
from .model import Sam2Features, Sam2HQ
from .processing import SquareProcessing

__all__ = [
    "FAMILY",
    "META_VARIANTS",
    "VARIANTS",
    "DecoderConfig",
    "HieraConfig",
    "MemoryConfig",
    "NeckConfig",
    "Sam2Config",
    "build",
    "Sam2Features",
    "Sam2HQ",
    "SquareProcessing",
    "TrackingConfig",
]
