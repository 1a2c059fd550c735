"""SAM 3 family: the interactive path (ViT trunk + sam2 neck, SAM 2 prompt encoder and the
HQ-SAM 2 mask decoder); the detector and the video memory are carried tensors."""

from .config import META_VARIANTS, VARIANTS, Sam3Config, VitConfig
from .family import FAMILY, build
from .model import Sam3Features, Sam3HQ
from .processing import Sam3Processing

__all__ = [
    "FAMILY",
    "META_VARIANTS",
    "VARIANTS",
    "Sam3Config",
    "VitConfig",
    "build",
    "Sam3Features",
    "Sam3HQ",
    "Sam3Processing",
]
