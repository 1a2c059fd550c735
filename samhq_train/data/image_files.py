"""Reading one data file: an image, a mask, or an image's size from its header. DataError (and
EmptyMaskError) are the data layer's one-line errors; every message names the file."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from samhq_train import image_header, imaging
from samhq_train.constants import GT_THRESHOLD
from samhq_train.errors import UserError
from samhq_train.image_header import ImageFileError, ImageHeader
from samhq_train.imaging import decode_with_header

log = logging.getLogger(__name__)
_TURN_NOTED = threading.Event()  # the note on an EXIF-turned image: once per process


class DataError(UserError):
    """A problem with the user's data; the message names the file and says what to do."""


class EmptyMaskError(DataError):
    """A mask without foreground (> 128): skipped in training, an error for strict evaluation."""


def read_image(path: str | Path) -> np.ndarray:
    """H x W x 3 uint8 RGB (samhq_train.imaging.read_image: grey repeated to 3 channels, EXIF
    orientation ignored, as in the official loader, so images stay aligned with their masks);
    raises DataError naming the file."""
    try:
        return imaging.read_image(path)
    except ImageFileError as err:
        raise DataError(str(err)) from None


def read_mask(path: str | Path) -> np.ndarray:
    """H x W uint8 0-255. A multi-channel mask must have equal colour channels (their grey is
    the mask); with an alpha channel, transparent pixels are background (the grey times the
    alpha: a white cut-out whose alpha is the object reads as that object, not as all object;
    the grey as decoded where it is premultiplied already, _premultiplied).
    16-bit masks and label masks with values only in 0-1 are refused."""
    path = Path(path)
    try:
        mask, header = decode_with_header(path, cv2.IMREAD_UNCHANGED, "mask")
    except ImageFileError as err:
        raise DataError(str(err)) from None
    premultiplied = None  # not known yet: _over_black asks the file when it needs to
    if mask.ndim == 2 and (alpha := _dropped_alpha(path, header)) is not None:
        mask, premultiplied = np.dstack([mask, alpha]), header.mode == "La"
    if mask.ndim == 3:
        channels = mask.shape[2]
        colour = mask[..., :3] if channels >= 3 else mask[..., :1]
        if (colour != colour[..., :1]).any():
            raise DataError(
                f"{path} has {channels} channels with different values; a mask must be a "
                "single-channel (grayscale) image, 0 = background, 255 = object: convert it"
            )
        grey = colour[..., 0]
        mask = grey if channels in (1, 3) else _over_black(
            grey, mask[..., -1], path, premultiplied)
    if mask.dtype != np.uint8:
        raise DataError(
            f"{path} is a {mask.dtype} mask; expected 8-bit values 0-255: "
            "save it as 8-bit grayscale"
        )
    if mask.max() == 1:
        raise DataError(
            f"{path} has values 0-1; masks must be 0-255 (object > 128): save it multiplied by 255"
        )
    return mask


def _dropped_alpha(path: Path, header: ImageHeader | None) -> np.ndarray | None:
    """The alpha channel of a grey + alpha file (its `header` says so) that OpenCV decodes as
    grey alone (a TIFF; it keeps a PNG's), else None."""
    if header is None or header.mode not in ("LA", "La"):
        return None
    try:
        with Image.open(path) as image:
            return np.array(image.getchannel(header.mode[1]))  # La's alpha band is "a"
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read mask file {path}: {err}; re-export or remove it") from None


def _over_black(
    grey: np.ndarray, alpha: np.ndarray, path: Path, premultiplied: bool | None
) -> np.ndarray:
    """A grey mask with an alpha channel as it shows over black: round(grey * alpha / 255), or
    the grey itself when it is `premultiplied` (None: _premultiplied asks the file); DataError
    when only the alpha outlines an object (drawn in black on transparency)."""
    if grey.dtype != np.uint8 or (alpha == 255).all():
        return grey  # a 16-bit mask is refused as such; fully opaque: the grey as stored
    if premultiplied is None:
        premultiplied = _premultiplied(path)
    mask = grey if premultiplied else (
        (grey.astype(np.uint32) * alpha + 127) // 255).astype(np.uint8)
    if mask.max() <= GT_THRESHOLD < alpha.max() and alpha.min() <= GT_THRESHOLD:
        raise DataError(
            f"{path}: its object is only in the alpha channel (black on transparency; over "
            "black it is empty); save a grayscale mask, 0 = background, 255 = object (e.g. the "
            "alpha channel itself)"
        )
    return mask


TIFF_SIGNATURES = (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+")  # classic and BigTIFF


def _premultiplied(path: Path) -> bool:
    """Whether the colour OpenCV decoded with its alpha is premultiplied (over black already): a
    TIFF's, which it decodes through libtiff's RGBA interface (that multiplies by the alpha)."""
    try:
        with open(path, "rb") as file:
            return file.read(4) in TIFF_SIGNATURES
    except OSError as err:
        raise DataError(f"cannot read mask file {path}: {err.strerror}; check that it is "
                        "readable") from None


def stored_size(path: str | Path, what: str = "image") -> tuple[int, int]:
    """(H, W) of an image file as stored (EXIF orientation ignored, as read_image), from its
    header alone (image_header.read_header, with its pixel limit); DataError naming the file when
    the header cannot be read or the image is over the limit. The first image found with an EXIF
    orientation flag is named in a warning (the data checks read every header through here)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{what} file not found: {path}")
    try:
        header = image_header.read_header(path, what)
    except ImageFileError as err:
        raise DataError(str(err)) from None
    if header is None:  # a format PIL does not know: what the reader makes of it decides
        return read_image(path).shape[:2]
    if header.orientation != 1 and not _TURN_NOTED.is_set():
        _TURN_NOTED.set()
        log.warning(
            "%s has EXIF orientation %d (viewers show it turned or mirrored): images are read as "
            "stored, so a mask or COCO annotation drawn on the upright view would not line up "
            "(a 180-degree turn keeps the size: no check sees it); if so, save such photos "
            "upright (e.g. PIL's ImageOps.exif_transpose). Further such images are not named",
            path, header.orientation,
        )
    return header.height, header.width


__all__ = ["DataError", "EmptyMaskError", "read_image", "read_mask", "stored_size"]
