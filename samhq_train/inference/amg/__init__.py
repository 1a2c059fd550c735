"""Automatic mask generation ("segment everything") with any model family and the HQ token."""

from .generator import OUTPUT_MODES, AmgOptionError, AutomaticMaskGenerator, MaskCandidates
from .masks import mask_to_polygons, masks_to_rle, rle_area, rle_to_coco, rle_to_mask

__all__ = [
    "OUTPUT_MODES",
    "AmgOptionError",
    "AutomaticMaskGenerator",
    "MaskCandidates",
    "mask_to_polygons",
    "masks_to_rle",
    "rle_area",
    "rle_to_coco",
    "rle_to_mask",
]
