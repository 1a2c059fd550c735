"""Pixels in and out, one home each: reading image files, SAM's long-side resize, overlay pictures.

Dependency-free within the project (numpy, OpenCV, PIL only), so that data, model, inference
and evaluation all use it without importing each other.

- ``read_image`` / ``decode_image_file``: the one image reader. EXIF orientation is IGNORED
  everywhere (training, evaluation, the predictor, COCO): pixels stay in the stored grid, the grid
  that masks, boxes and points are given in (and what the official training / evaluation loaders
  do). A photo whose camera wrote a rotation flag is therefore used as stored, not as a viewer
  shows it (``read_header`` tells its orientation, for a note). Problems raise ``ImageFileError``
  (a UserError and ValueError) naming the file; data wraps it in DataError, inference in
  ImageReadError.
- The pixel limit: before decoding, the width and height are read from the file's header and an
  image over ``max_image_pixels()`` (default 100 MP; 0: no limit) is refused in one line
  (``ImageTooLargeError``) instead of filling the memory. ``set_max_image_pixels`` sets it
  (samhq-predict ``--max-pixels``, the data config's ``data.max_image_pixels``); it travels in the
  environment variable SAMHQ_MAX_IMAGE_PIXELS, so data-loader workers see it too, and PIL's own
  ``Image.MAX_IMAGE_PIXELS`` follows it. Running out of memory while decoding is
  ``ImageMemoryError`` (a UserError and MemoryError), never "not a readable image".
- ``resize_longest_side_shape`` / ``resize_image``: SAM's ``ResizeLongestSide`` rule and the
  official predictor's image resize (PIL bilinear), used by the SAM 1 family's input rule
  (model/sam1/processing.py), large-scale jitter and the predictor-style evaluation transform.
- ``draw_overlay``: the one overlay picture (samhq-predict, the evaluation report, training's
  logged validation pictures), drawn in uint8 in row bands so that its memory stays bounded.
"""

from __future__ import annotations

import math
import os
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from samhq_train.errors import UserError

MAX_PIXELS_ENV = "SAMHQ_MAX_IMAGE_PIXELS"
DEFAULT_MAX_PIXELS = 100_000_000  # 100 MP: a 10000 x 10000 image, ~0.3 GB as uint8 RGB
EXIF_ORIENTATION = 0x0112
# what the refusal of a too large image tells the user to raise (set_max_image_pixels)
_limit_setting = MAX_PIXELS_ENV
_PIL_LIMIT_LOCK = threading.Lock()  # read_header lifts PIL's limit for one header read


class ImageFileError(UserError, ValueError):
    """An image (or mask) file that cannot be read; the message names the file and what to do."""


class ImageTooLargeError(ImageFileError):
    """An image over the pixel limit, refused from its header before decoding."""


class ImageMemoryError(UserError, MemoryError):
    """Memory ran out while reading (or predicting on) an image; the message names the file."""


# ---- the pixel limit --------------------------------------------------------------------------


def max_image_pixels() -> int:
    """The pixel limit (width x height) for reading an image; 0: none."""
    value = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not value:
        return DEFAULT_MAX_PIXELS
    if not value.isdigit():
        raise UserError(
            f"{MAX_PIXELS_ENV}={value}: expected a whole number of pixels (0: no limit)"
        )
    return int(value)


def set_max_image_pixels(pixels: int, setting: str = MAX_PIXELS_ENV) -> None:
    """Set the pixel limit (0: none) for this process and the workers it starts; `setting` is
    what the refusal names (e.g. "--max-pixels")."""
    global _limit_setting
    if isinstance(pixels, bool) or not isinstance(pixels, int) or pixels < 0:
        raise ValueError(f"{setting}: expected a whole number of pixels >= 0, got {pixels!r}")
    os.environ[MAX_PIXELS_ENV] = str(pixels)
    _limit_setting = setting
    _follow_in_pil()


def _follow_in_pil() -> None:
    """PIL's own decompression-bomb limit follows ours (it warns above it, refuses above 2x)."""
    try:
        Image.MAX_IMAGE_PIXELS = max_image_pixels() or None
    except UserError:  # a malformed environment value is reported where an image is read
        pass


_follow_in_pil()


@dataclass(frozen=True)
class ImageHeader:
    width: int
    height: int
    orientation: int = 1  # the EXIF orientation flag; 1: display as stored


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation flag, from the header only (PIL's getexif may decode a PNG)."""
    tags = getattr(im, "tag_v2", None)  # TIFF
    if tags is not None:
        return int(tags.get(EXIF_ORIENTATION, 1) or 1)
    raw = im.info.get("exif")
    if not raw:
        return 1
    exif = Image.Exif()
    try:
        exif.load(raw)
    except Exception:  # a damaged EXIF block says nothing about the pixels
        return 1
    return int(exif.get(EXIF_ORIENTATION, 1) or 1)


def _open_header(path: Path) -> ImageHeader:
    """Width, height and orientation as PIL's Image.open reads them (no pixels decoded)."""
    with Image.open(path) as im:
        return ImageHeader(*im.size, _orientation(im))


def read_header(
    path: str | os.PathLike, what: str = "image", max_pixels: int | None = None
) -> ImageHeader | None:
    """Width, height and EXIF orientation from the file's header, without decoding the pixels;
    ImageTooLargeError over the pixel limit (max_pixels, default ``max_image_pixels()``). None
    when PIL does not know the format (OpenCV's decoder then decides)."""
    path = Path(path)
    limit = max_image_pixels() if max_pixels is None else max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            try:
                header = _open_header(path)
            except Image.DecompressionBombError:  # over twice PIL's limit: read the size anyway
                with _PIL_LIMIT_LOCK:
                    saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
                    try:
                        header = _open_header(path)
                    finally:
                        Image.MAX_IMAGE_PIXELS = saved
    except Exception:  # not an image PIL knows (or damaged): OpenCV's decoder reports it
        return None
    if limit and header.width * header.height > limit:
        size = f"{header.width} x {header.height} = {header.width * header.height:,} pixels"
        raise ImageTooLargeError(
            f"{what} file {path} is {size}, over the pixel limit of {limit:,} "
            f"({limit / 1e6:g} MP); raise {_limit_setting} (0: no limit) if the memory allows, "
            "or downscale the image"
        )
    return header


# ---- reading ----------------------------------------------------------------------------------


def decode_image_file(
    path: str | os.PathLike, flags: int, what: str = "image", max_pixels: int | None = None
) -> np.ndarray:
    """``cv2.imdecode(file bytes, flags)`` with clear errors: missing, unreadable or empty file,
    over the pixel limit (from the header, before decoding; ``read_header``), a JPEG or PNG cut
    short (a readable header, the end mark missing: ``_truncated``), undecodable, out of
    memory."""
    path = Path(path)
    if not path.is_file():
        raise ImageFileError(f"{what} file not found: {path}")
    header = read_header(path, what, max_pixels)
    try:
        data = np.fromfile(path, np.uint8)
    except OSError as e:
        raise ImageFileError(
            f"cannot read {what} file {path}: {e.strerror}; check that it is readable"
        ) from None
    if data.size == 0:
        raise ImageFileError(
            f"cannot read {what} file {path}: {path.name} is empty (0 bytes); re-export or "
            "remove it"
        )
    if header is not None and (cut := _truncated(data)) is not None:  # a header, then cut
        raise ImageFileError(
            f"cannot read {what} file {path}: {path.name} is truncated ({cut} missing); "
            "re-download or remove it"
        )
    try:
        out = cv2.imdecode(data, flags)
    except MemoryError:
        raise out_of_memory(path, header, what) from None
    except cv2.error as err:  # e.g. dimensions over OpenCV's limits, or no memory
        if "memory" in str(err).lower() or "allocate" in str(err).lower():
            raise out_of_memory(path, header, what) from None
        out = None
    if out is None:
        raise ImageFileError(
            f"cannot read {what} file {path}: {path.name} is not a readable image (corrupt or "
            "unsupported format); re-export or remove it"
        )
    return out


# (signature, end mark, what the message calls the end mark); a file cut short (an interrupted
# copy or download) lacks its end mark, which may be followed by up to TAIL bytes of padding.
# libjpeg would decode a cut JPEG with a grey bottom and only a warning on stderr, and PIL with
# ImageFile.LOAD_TRUNCATED_IMAGES (which some libraries switch on) a cut PNG too
_END_MARKS = (
    (b"\xff\xd8", b"\xff\xd9", "JPEG end marker"),
    (b"\x89PNG\r\n\x1a\n", b"IEND", "PNG end chunk"),
)
_TAIL = 4096


def _truncated(data: np.ndarray) -> str | None:
    """The end mark a JPEG or PNG file's bytes lack (it was cut short), else None."""
    head, tail = data[:8].tobytes(), data[-_TAIL:].tobytes()
    for signature, end, name in _END_MARKS:
        if head.startswith(signature) and end not in tail:
            return name
    return None


def out_of_memory(path: Path, header: ImageHeader | None, what: str = "image") -> ImageMemoryError:
    """The one line for memory running out on an image file (reading or predicting)."""
    size = f" ({header.width} x {header.height} pixels)" if header else ""
    return ImageMemoryError(
        f"out of memory on {what} file {path}{size}; free memory, or lower the pixel limit "
        f"({_limit_setting}) to refuse images this large"
    )


def read_image(path: str | os.PathLike, max_pixels: int | None = None) -> np.ndarray:
    """H x W x 3 uint8 RGB; grey is repeated to 3 channels, alpha dropped, EXIF orientation
    ignored (see the module docstring). Raises ImageFileError (ImageTooLargeError over the pixel
    limit: max_pixels, default ``max_image_pixels()``) or ImageMemoryError."""
    flags = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION
    bgr = decode_image_file(path, flags, max_pixels=max_pixels)
    try:
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB, dst=bgr)  # in place: no second copy
    except (MemoryError, cv2.error):
        raise out_of_memory(Path(path), ImageHeader(bgr.shape[1], bgr.shape[0])) from None


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


# ---- drawing ----------------------------------------------------------------------------------

# Okabe & Ito's colour-blind-safe palette (RGB): mask i and its prompt take PALETTE[i % 7]
PALETTE = np.array(
    [[230, 159, 0], [86, 180, 233], [0, 158, 115], [204, 121, 167], [240, 228, 66],
     [213, 94, 0], [0, 114, 178]],
    np.uint8,
)
GT_EDGE = (0, 114, 178)  # ground-truth boundary: blue, twice as thick as a mask's, under them
POINT_COLORS = {1: (0, 158, 115), 0: (213, 94, 0)}  # foreground: a disc, background: an X
HALO = (0, 0, 0)  # the dark rim around markers, boxes and numbers (readable on any image)
TINT = 0.4  # weight of the tint colour inside a mask
EDGE_RATIO = 0.003  # outline width as a fraction of the picture diagonal (at least 1 px)
BAND_PIXELS = 1 << 22  # pixels per row band of the compositing (bounds its temporary memory)


def _bands(height: int, width: int):
    """(first row, end row) of the row bands that the compositing works through."""
    rows = max(1, BAND_PIXELS // max(1, width))
    return ((r, min(height, r + rows)) for r in range(0, height, rows))


def _tint(picture: np.ndarray, mask: np.ndarray, colour: np.ndarray) -> None:
    """picture (uint8, in place) = (1 - TINT) x picture + TINT x colour inside the mask."""
    for r0, r1 in _bands(*mask.shape):
        inside = mask[r0:r1]
        if inside.any():
            band = picture[r0:r1]
            blended = (1 - TINT) * band[inside].astype(np.float32) + TINT * colour
            band[inside] = (blended + 0.5).astype(np.uint8)  # round half up


def _outline(picture: np.ndarray, mask: np.ndarray, colour, width: int) -> None:
    """Paint the mask's inner boundary band (the mask minus its erosion by `width`; outside the
    picture counts as empty), band by band with `width` rows of context."""
    height = mask.shape[0]
    kernel = np.ones((2 * width + 1, 2 * width + 1), np.uint8)
    for r0, r1 in _bands(*mask.shape):
        a, b = max(0, r0 - width), min(height, r1 + width)
        slab = np.ascontiguousarray(mask[a:b]).view(np.uint8)
        if not slab.any():
            continue
        eroded = cv2.erode(slab, kernel, borderType=cv2.BORDER_CONSTANT, borderValue=0)
        keep = slice(r0 - a, r1 - a)
        picture[r0:r1][slab[keep].astype(bool) & (eroded[keep] == 0)] = colour


def _number(picture: np.ndarray, text: str, corner: tuple[int, int], colour, scale: float):
    """A number on a filled tag in the mask's colour, its top-left at `corner` (kept inside)."""
    font, thick = cv2.FONT_HERSHEY_SIMPLEX, max(1, round(2 * scale))
    (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    pad = max(2, round(3 * scale))
    h, w = picture.shape[:2]
    x = int(np.clip(corner[0], 0, max(0, w - tw - 2 * pad)))
    y = int(np.clip(corner[1], 0, max(0, h - th - base - 2 * pad)))
    x1, y1 = x + tw + 2 * pad, y + th + base + 2 * pad
    cv2.rectangle(picture, (x, y), (x1, y1), tuple(int(c) for c in colour), -1)
    cv2.rectangle(picture, (x, y), (x1, y1), HALO, max(1, thick // 2))
    cv2.putText(picture, text, (x + pad, y + pad + th), font, scale, HALO, thick, cv2.LINE_AA)


def _draw_point(picture: np.ndarray, x: float, y: float, label: int, size: int) -> None:
    """Foreground: a filled disc; background: an X (told apart by shape, not only colour)."""
    centre, colour = (round(x), round(y)), POINT_COLORS[int(label == 1)]
    if label == 1:
        cv2.circle(picture, centre, size + 2, HALO, -1, cv2.LINE_AA)
        cv2.circle(picture, centre, size, colour, -1, cv2.LINE_AA)
    else:
        marker = cv2.MARKER_TILTED_CROSS
        cv2.drawMarker(picture, centre, HALO, marker, 2 * size + 4, max(3, size // 2 + 3))
        cv2.drawMarker(picture, centre, colour, marker, 2 * size, max(1, size // 2))


def _anchor(mask: np.ndarray) -> tuple[int, int]:
    """Top-left corner of a mask's bounding box ((0, 0) when empty)."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return (int(cols[0]), int(rows[0])) if rows.size else (0, 0)


def _as_picture(image: np.ndarray, size: tuple[int, int], in_place: bool) -> np.ndarray:
    """The image as an H x W x 3 uint8 picture of `size` (resized bilinearly when it differs;
    the image itself when in_place and already uint8 of that size)."""
    picture = np.asarray(image)
    if picture.dtype != np.uint8:
        picture = np.clip(picture + 0.5, 0, 255).astype(np.uint8)
    if picture.shape[:2] != tuple(size):
        return cv2.resize(picture, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)
    return picture if in_place and picture is image else picture.copy()


def draw_overlay(
    image: np.ndarray,
    masks: np.ndarray | Sequence[np.ndarray],
    gt: np.ndarray | None = None,
    boxes: np.ndarray | None = None,
    points: np.ndarray | None = None,
    *,
    labels: Sequence | None = None,
    in_place: bool = False,
) -> np.ndarray:
    """H x W x 3 uint8 RGB picture of predicted masks and their prompts on an image.

    image: h x w x 3 RGB (uint8, or 0-255 float), resized bilinearly to the masks' H x W when its
    size differs; with in_place a uint8 image of that size is drawn on and returned (no copy).
    masks: K x H x W bool; mask i is tinted and outlined in PALETTE[i], as is box i (N x 4 xyxy,
    N = K, or one box for all). gt: H x W bool, outlined in blue twice as thick, under the masks'
    outlines. points: N x 3 (x, y, label): a disc for foreground (1), an X for background (0).
    labels: the number drawn on each mask's box (or its top-left corner); default: 0..K-1 when
    K > 1, none for one mask. Coordinates in the masks' pixels. Memory: the picture plus a row
    band (BAND_PIXELS) at a time; masks are read, never copied whole.
    """
    masks = [np.asarray(m, bool) for m in masks]
    size = masks[0].shape if masks else (gt.shape if gt is not None else image.shape[:2])
    picture = _as_picture(image, size, in_place)
    diagonal = math.hypot(*size)
    width = max(1, int(round(EDGE_RATIO * diagonal)))
    for i, mask in enumerate(masks):
        _tint(picture, mask, PALETTE[i % len(PALETTE)].astype(np.float32))
    if gt is not None:
        _outline(picture, np.asarray(gt, bool), GT_EDGE, 2 * width)
    for i, mask in enumerate(masks):
        _outline(picture, mask, tuple(int(c) for c in PALETTE[i % len(PALETTE)]), width)
    boxes = np.zeros((0, 4)) if boxes is None else np.asarray(boxes, np.float64).reshape(-1, 4)
    for i, (x0, y0, x1, y1) in enumerate(boxes):
        colour = tuple(int(c) for c in PALETTE[i % len(PALETTE)])
        corners = (round(x0), round(y0)), (round(x1), round(y1))
        cv2.rectangle(picture, *corners, HALO, max(2, width) + 2)
        cv2.rectangle(picture, *corners, colour, max(2, width))
    if labels is None and len(masks) > 1:
        labels = range(len(masks))
    scale = max(0.4, diagonal / 1500)
    for i, label in enumerate([] if labels is None else labels):
        anchor = boxes[i, :2] if i < len(boxes) else _anchor(masks[i])
        _number(picture, str(label), tuple(int(round(v)) for v in anchor),
                PALETTE[i % len(PALETTE)], scale)
    for x, y, label in [] if points is None else np.asarray(points).reshape(-1, 3):
        _draw_point(picture, x, y, int(label), max(4, 2 * width + 2))
    return picture
