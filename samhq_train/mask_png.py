"""Annotation PNGs in: the one reader of video object segmentation masks (DAVIS indexed masks,
SA-V per-object masks, video training's clips): the stored pixel values, never the palette's
colours; the PNG format and the allowed modes checked from the header. Problems raise
image_header.ImageFileError naming the file (the caller adds what to do). DAVIS_VOID_ID: the value
DAVIS annotations mark unscored pixels with, one home for samhq-video-eval's scores and
samhq-video's benchmark prompts."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from samhq_train.image_header import ImageFileError
from samhq_train.imaging import check_complete
from samhq_train.user_files import require_regular_file

# DAVIS annotations: palette index 255 marks void pixels, not scored and never an object
DAVIS_VOID_ID = 255


@dataclass(frozen=True)
class MaskPng:
    values: np.ndarray  # H x W: the stored pixel values (object ids, or 0 / nonzero)
    palette: list[int] | None


def mask_png_header(path: str | os.PathLike, modes: tuple[str, ...] = ("P",)) -> tuple[int, int]:
    """(width, height) of an annotation PNG, from its header; ImageFileError (one line naming
    the file, without a hint: the caller adds what to do) when it cannot be read, is not a PNG
    or its mode is not one of `modes`."""
    with _open_mask(Path(path), modes) as image:
        return image.size


def read_mask_png(path: str | os.PathLike, modes: tuple[str, ...] = ("P",)) -> MaskPng:
    """The pixel values (as np.array of the PIL image: uint8 for modes P and L, bool for 1) and
    palette of an annotation PNG, checked as mask_png_header checks it."""
    path = Path(path)
    with _open_mask(path, modes) as image:
        try:
            return MaskPng(np.array(image), image.getpalette())
        except (OSError, ValueError) as err:
            check_complete(path, "annotation")  # cut short: say so, not PIL's words
            raise ImageFileError(f"{path}: cannot be decoded ({err})") from None


def _open_mask(path: Path, modes: tuple[str, ...]) -> Image.Image:
    try:
        require_regular_file(path)
        image = Image.open(path)
    except (OSError, ValueError) as err:
        if path.is_file():  # cut short: say so, not PIL's words
            check_complete(path, "annotation")
        raise ImageFileError(f"{path}: cannot be read as an image ({err})") from None
    kind, mode = image.format, image.mode
    if kind != "PNG":
        image.close()
        raise ImageFileError(f"{path}: a {kind} file, not a PNG")
    if mode not in modes:
        image.close()
        colours = " (colours, not ids)" if mode in ("RGB", "RGBA") else ""
        wanted = "indexed" if modes == ("P",) else f"a mode {' / '.join(modes)} mask"
        raise ImageFileError(f"{path}: a mode {mode} image{colours}, not {wanted}")
    return image
