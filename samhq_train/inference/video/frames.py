"""A video as a folder of frames (JPEG or PNG, one per file), read as the official SAM 2 video
predictor reads its JPEG folder: each frame squashed to the model's S x S with PIL's resize
(bicubic on 8-bit RGB), kept as 0-255 values."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from samhq_train.errors import UserError

FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")


class FramesError(UserError):
    """A frames folder that cannot be read as a video; the message names it."""


def frame_order(path: Path):
    """Frames sort by name, numerically where the name is a number (as the official predictor's
    "<index>.jpg" names): 2.jpg before 10.jpg."""
    return (0, int(path.stem), "") if path.stem.isdigit() else (1, 0, path.stem)


def list_frames(folder: str | Path) -> list[Path]:
    """The frame files of a folder, in order; FramesError for a missing or empty folder."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FramesError(f"{folder}: frames folder not found; give a folder of JPEG/PNG frames")
    frames = sorted(
        (p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in FRAME_SUFFIXES),
        key=frame_order,
    )
    if not frames:
        raise FramesError(f"{folder} holds no frames ({', '.join(FRAME_SUFFIXES)} files)")
    stems = [p.stem for p in frames]
    repeated = sorted({s for s in stems if stems.count(s) > 1})
    if repeated:
        raise FramesError(f"{folder}: several frames are named {repeated[0]!r}; rename one")
    return frames


def frame_size(paths: list[Path]) -> tuple[int, int]:
    """(H, W) shared by every frame, read from the file headers; FramesError naming the first
    unreadable frame or the first of another size."""
    sizes = []
    for path in paths:
        try:
            with Image.open(path) as image:
                sizes.append((image.height, image.width))
        except (OSError, UnidentifiedImageError) as err:
            raise FramesError(f"{path}: not a readable image ({err})") from None
        if sizes[-1] != sizes[0]:
            raise FramesError(
                f"{path} is {sizes[-1][1]}x{sizes[-1][0]} but {paths[0].name} is "
                f"{sizes[0][1]}x{sizes[0][0]}: all frames of a video must have one size"
            )
    return sizes[0]


def load_frames(paths: list[Path], image_size: int) -> torch.Tensor:
    """N x S x S x 3 uint8: each frame as RGB, resized to S x S by PIL (the official loader's
    rule, which differs from the image predictor's antialiased bilinear resize)."""
    frames = torch.empty(len(paths), image_size, image_size, 3, dtype=torch.uint8)
    for i, path in enumerate(paths):
        with Image.open(path) as image:
            resized = image.convert("RGB").resize((image_size, image_size))
        frames[i] = torch.from_numpy(np.array(resized))
    return frames
