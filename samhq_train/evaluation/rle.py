"""COCO run-length encoding of binary masks, json-serialisable: the COCO evaluations' results
(coco.py, saco_concept.py) and the video concept predictions (video/concept_masks.py) alike."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pycocotools.mask as mask_utils
import torch

__all__ = ["decode_mask", "encode_mask"]


def encode_mask(mask: np.ndarray | torch.Tensor) -> dict:
    """Binary mask H x W (bool or 0/1) -> COCO compressed RLE, json-serialisable."""
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    if mask.ndim != 2:
        raise ValueError(f"expected an H x W mask, got shape {mask.shape}")
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def decode_mask(rle: Mapping) -> np.ndarray:
    """COCO RLE (compressed or uncompressed) -> bool mask H x W."""
    if isinstance(rle["counts"], list):
        rle = mask_utils.frPyObjects(dict(rle), *rle["size"])
    elif isinstance(rle["counts"], str):
        rle = {"size": rle["size"], "counts": rle["counts"].encode("ascii")}
    return mask_utils.decode(rle).astype(bool)
