"""Image resizes, one home each, numpy / PIL only (no torch, no project imports), so that data,
model and a runtime without torch (the ONNX concept graphs) use the same pixels.

- ``resize_longest_side_shape`` / ``resize_image``: SAM's ``ResizeLongestSide`` rule and the
  official predictor's image resize (PIL bilinear), used by the SAM 1 family's input rule
  (model/sam1/processing.py), large-scale jitter and the predictor-style evaluation transform.
- ``resize_antialiased_uint8``: PyTorch's antialiased uint8 bilinear resize (SAM 3's processor).
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def resize_longest_side_shape(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(h, w) after scaling (height, width) so that the longer side becomes ``long_side``.

    SAM's ``ResizeLongestSide`` rule, ``int(x * scale + 0.5)``, at least 1 pixel: large-scale
    jitter, the predictor-style evaluation resize and inference all use it.
    """
    scale = long_side / max(height, width)
    return max(1, int(height * scale + 0.5)), max(1, int(width * scale + 0.5))


def resize_image(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """H x W x 3 uint8 -> h x w x 3 with PIL's bilinear filter, as the official predictor's
    ``ResizeLongestSide.apply_image`` (PIL antialiases when shrinking; OpenCV does not)."""
    h, w = size
    return np.array(Image.fromarray(np.ascontiguousarray(image)).resize((w, h), Image.BILINEAR))


def resize_antialiased_uint8(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """H x W x C uint8 -> h x w x C uint8 exactly as PyTorch resizes a uint8 tensor
    (F.interpolate bilinear, antialias=True; SAM 3's Sam3Processor and ConceptPredictor), in
    numpy: so a runtime without torch (the ONNX concept graphs) feeds the same pixels. PyTorch's
    Pillow-derived kernel: per axis, triangle weights widened by the scale when shrinking,
    normalised, rounded to int16 fixed point; the width resized first, each pass rounded and
    clipped to uint8. (Pillow's own resize differs by 1 in about 1% of the values.)"""
    h, w = size
    return _resize_axis_uint8(_resize_axis_uint8(np.asarray(image), w, axis=1), h, axis=0)


def _resize_axis_uint8(x: np.ndarray, size: int, axis: int) -> np.ndarray:
    length = x.shape[axis]
    if length == size:
        return x
    scale = length / size
    support, stretch = (scale, 1.0 / scale) if scale >= 1.0 else (1.0, 1.0)
    taps = []
    for i in range(size):
        center = scale * (i + 0.5)
        low = max(int(center - support + 0.5), 0)
        high = min(int(center + support + 0.5), length)
        weights = np.clip(1.0 - np.abs((np.arange(low, high) - center + 0.5) * stretch), 0.0, None)
        total = weights.sum()
        taps.append((low, weights / total if total != 0 else weights))
    peak = max(float(weights.max()) for _, weights in taps)
    bits = 0  # the most fraction bits that keep twice the largest weight in int16
    while bits < 22 and int(0.5 + peak * (1 << (bits + 1))) < (1 << 15):
        bits += 1
    x = np.moveaxis(x, axis, 0).astype(np.int64)
    out = np.empty((size, *x.shape[1:]), np.uint8)
    for i, (low, weights) in enumerate(taps):
        fixed = np.trunc(0.5 + weights * (1 << bits)).astype(np.int64)  # weights are >= 0
        total = (1 << (bits - 1)) + np.tensordot(fixed, x[low : low + len(fixed)], axes=(0, 0))
        out[i] = np.clip(total >> bits, 0, 255)
    return np.moveaxis(out, 0, axis)
