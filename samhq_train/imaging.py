"""Pixels in and out, one home each: reading image files, SAM's long-side resize, overlay pictures.

Dependency-free within the project (numpy, OpenCV, PIL only), so that data, inference and
evaluation all use it without importing each other.

- ``read_image`` / ``decode_image_file``: the one image reader. EXIF orientation is IGNORED
  everywhere (training, evaluation, the predictor, COCO): pixels stay in the stored grid, the grid
  that masks, boxes and points are given in (and what the official training / evaluation loaders
  do). A photo whose camera wrote a rotation flag is therefore used as stored, not as a viewer
  shows it. Problems raise ``ImageFileError`` (a ValueError) naming the file; data wraps it in
  DataError, inference in ImageReadError.
- ``resize_longest_side_shape`` / ``resize_image``: SAM's ``ResizeLongestSide`` rule and the
  official predictor's image resize (PIL bilinear), used by the predictor and by the
  predictor-style evaluation transform.
- ``draw_overlay``: the one overlay picture (predict.py, the evaluation report, training's logged
  validation pictures).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

from samhq_train.errors import UserError

# mask tints, in order; the first is SAM's demo blue
COLORS = np.array(
    [[30, 144, 255], [255, 99, 71], [50, 205, 50], [238, 130, 238], [255, 215, 0]], np.uint8
)
PRED_EDGE = (255, 0, 0)  # predicted mask boundary: red
GT_EDGE = (0, 255, 0)  # ground-truth boundary: green
BOX_COLOR = (255, 255, 0)
POINT_COLORS = {1: (0, 255, 0), 0: (255, 0, 0)}  # foreground green, background red
TINT = 0.4  # weight of the tint colour inside a mask
EDGE_RATIO = 0.003  # outline width as a fraction of the picture diagonal (at least 1 px)


class ImageFileError(UserError, ValueError):
    """An image (or mask) file that cannot be read; the message names the file and what to do."""


# ---- reading ----------------------------------------------------------------------------------

def decode_image_file(path: str | os.PathLike, flags: int, what: str = "image") -> np.ndarray:
    """``cv2.imdecode(file bytes, flags)`` with clear errors: missing, unreadable or empty file,
    truncated JPEG (libjpeg would decode it with a grey bottom and only a warning), undecodable."""
    path = Path(path)
    if not path.is_file():
        raise ImageFileError(f"{what} file not found: {path}")
    try:
        data = np.fromfile(path, np.uint8)
    except OSError as e:
        raise ImageFileError(
            f"cannot read {what} file {path}: {e.strerror}; check that it is readable"
        ) from None
    if data.size == 0:
        raise ImageFileError(
            f"cannot read {what} file {path}: {path.name} is empty (0 bytes); re-export or remove it"
        )
    if data[:2].tobytes() == b"\xff\xd8" and data[-2:].tobytes() != b"\xff\xd9":
        if b"\xff\xd9" not in data[-4096:].tobytes():
            raise ImageFileError(
                f"cannot read {what} file {path}: {path.name} is truncated (JPEG end marker "
                "missing); re-download or remove it"
            )
    try:
        out = cv2.imdecode(data, flags)
    except cv2.error:  # e.g. dimensions over OpenCV's limits
        out = None
    if out is None:
        raise ImageFileError(
            f"cannot read {what} file {path}: {path.name} is not a readable image (corrupt or "
            "unsupported format); re-export or remove it"
        )
    return out


def read_image(path: str | os.PathLike) -> np.ndarray:
    """H x W x 3 uint8 RGB; grey is repeated to 3 channels, alpha dropped, EXIF orientation
    ignored (see the module docstring). Raises ImageFileError."""
    bgr = decode_image_file(path, cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


# ---- resizing ---------------------------------------------------------------------------------

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


def resize_longest_side(image: np.ndarray, long_side: int) -> np.ndarray:
    """The official predictor's pre-processing resize: long side ``long_side``, aspect kept."""
    return resize_image(image, resize_longest_side_shape(*image.shape[:2], long_side))


# A model family's input rule (the model class's `input_resize`): how its official predictor
# brings an image to the S x S input. SAM 1: long side S (PIL bilinear), padded by the model.
# SAM 2.1: squashed to S x S, aspect not kept (torchvision Resize on 0-1 floats, antialiased).
INPUT_RULES = ("longest_side", "square")


def model_input_shape(height: int, width: int, rule: str, size: int) -> tuple[int, int]:
    if rule == "longest_side":
        return resize_longest_side_shape(height, width, size)
    if rule == "square":
        return size, size
    raise ValueError(f"unknown input rule {rule!r}; one of {INPUT_RULES}")


def resize_to_model_input(image: np.ndarray, rule: str, size: int) -> np.ndarray:
    """H x W x 3 uint8 -> h x w x 3 float32 on the 0-255 scale, as the family's official
    predictor resizes (float output: the SAM 2.1 rule does not round to uint8)."""
    if rule == "longest_side":
        return resize_longest_side(image, size).astype(np.float32)
    if rule == "square":
        tensor = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float() / 255
        tensor = torch.nn.functional.interpolate(
            tensor, (size, size), mode="bilinear", align_corners=False, antialias=True
        )
        return (tensor[0].permute(1, 2, 0) * 255).numpy()
    raise ValueError(f"unknown input rule {rule!r}; one of {INPUT_RULES}")


def scale_to_model_input(coords: np.ndarray, original_size: tuple[int, int], rule: str, size: int) -> np.ndarray:
    """(x, y) pairs in original pixels (last dim 2) -> pixels of the resized model input."""
    old_h, old_w = original_size
    new_h, new_w = model_input_shape(old_h, old_w, rule, size)
    coords = np.array(coords, dtype=np.float64)
    coords[..., 0] *= new_w / old_w
    coords[..., 1] *= new_h / old_h
    return coords


# ---- drawing ----------------------------------------------------------------------------------

def _edge(mask: np.ndarray, width: int) -> np.ndarray:
    """Inner boundary band of a bool mask (the mask minus its erosion; outside counts as empty)."""
    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    eroded = cv2.erode(mask.astype(np.uint8), kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return mask & ~eroded.astype(bool)


def draw_overlay(
    image: np.ndarray,
    masks: np.ndarray | Sequence[np.ndarray],
    gt: np.ndarray | None = None,
    boxes: np.ndarray | None = None,
    points: np.ndarray | None = None,
) -> np.ndarray:
    """H x W x 3 uint8 RGB picture of predicted masks on an image.

    image: h x w x 3 RGB (uint8 or 0-255 float), resized bilinearly to the masks' H x W when its
    size differs. masks: K x H x W bool, each tinted (COLORS, in order) and outlined in red.
    gt: H x W bool, outlined in green (under the predicted outlines). boxes: N x 4 xyxy and
    points: N x 3 (x, y, label 1 foreground / 0 background), in the masks' pixels.
    """
    masks = [np.asarray(m, bool) for m in masks]
    size = masks[0].shape if masks else (gt.shape if gt is not None else image.shape[:2])
    picture = np.asarray(image, np.float32)
    if picture.shape[:2] != tuple(size):
        picture = cv2.resize(picture, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    for i, mask in enumerate(masks):
        picture[mask] = (1 - TINT) * picture[mask] + TINT * COLORS[i % len(COLORS)]
    picture = np.clip(picture + 0.5, 0, 255).astype(np.uint8)  # round half up
    width = max(1, int(round(EDGE_RATIO * math.hypot(*size))))
    outlines = [] if gt is None else [(np.asarray(gt, bool), GT_EDGE)]
    for mask, colour in outlines + [(m, PRED_EDGE) for m in masks]:
        picture[_edge(mask, width)] = colour
    for x0, y0, x1, y1 in [] if boxes is None else np.asarray(boxes).reshape(-1, 4):
        cv2.rectangle(picture, (round(x0), round(y0)), (round(x1), round(y1)), BOX_COLOR, 2)
    for x, y, label in [] if points is None else np.asarray(points).reshape(-1, 3):
        cv2.circle(picture, (round(x), round(y)), 4, POINT_COLORS[int(label == 1)], -1)
    return picture
