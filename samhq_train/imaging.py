"""Pixels in: reading image files, one home (the resize rules are resizing.py's, overlay
pictures, the pixels out, drawing.py's; the header read before decoding, the pixel limit and the
errors' wording, image_header.py's, imported from there).

Dependency-free within the project (numpy, OpenCV, PIL; image_header, image_signatures and the
neutral user_files), so that data, model, inference and evaluation all use it without importing
each other.

- ``read_image`` / ``decode_image_file``: the one image reader (``read_image_bytes``: the same
  for an upload's bytes, samhq-app's). EXIF orientation is IGNORED everywhere (training,
  evaluation, the predictor, COCO, the app): pixels stay in the stored grid, the grid
  that masks, boxes and points are given in (and what the official training / evaluation loaders
  do). A photo whose camera wrote a rotation flag is therefore used as stored, not as a viewer
  shows it (``read_header`` tells its orientation, for a note); the exception is a TIFF's
  Orientation tag, which libtiff applies in OpenCV and PIL alike (its pixels and its header's
  size come upright: orientation 1). A file of several frames (an animated GIF, a multi-page
  TIFF, a phone's MPO JPEG) is read as its first frame, the picture every decoder and viewer
  starts with (a GIF needs OpenCV 4.12+; an older OpenCV refuses it as not readable). Problems
  raise ``ImageFileError`` (a UserError and ValueError) naming the file; data wraps it in
  DataError, inference in ImageReadError.
- Before decoding, the header is checked against the pixel limit (image_header.py); a file
  whose header PIL cannot read has no size to check and is decoded only when there is no limit.
  Running out of memory while decoding is ``ImageMemoryError`` (a UserError and MemoryError),
  never "not a readable image".
- A video's frame files: ``frame_entries`` lists them (video training's and samhq-video's one
  rule), ``read_image(what="frame")`` words a damaged one's refusal (replace it, not remove it).
  Annotation PNGs (video object segmentation masks) are mask_png.py's, beside this reader.
"""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from samhq_train.image_header import (
    WIDE_SAMPLES,
    ImageFileError,
    ImageHeader,
    ImageMemoryError,
    ImageSource,
    checked_header,
    opened_image,
    pixel_limit,
)
from samhq_train.image_signatures import (
    HEAD_BYTES,
    TAIL_BYTES,
    complete_by_ends,
    not_an_image,
    truncated,
    unchecked_format,
)
from samhq_train.user_files import is_hidden_name, stem_order

# the suffixes (any case) a folder's images are listed by: training's folder sets,
# samhq-predict's and samhq-amg's folders; the content, not the suffix, decides the decoding
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
# a video's frame files (samhq-video's frames folders, video training's JPEGImages/<sequence>)
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")



# ---- reading ----------------------------------------------------------------------------------


def decode_image_file(
    path: str | os.PathLike, flags: int, what: str = "image", max_pixels: int | None = None
) -> np.ndarray:
    """``cv2.imdecode(file bytes, flags)`` with clear errors: missing, unreadable or empty file,
    over the pixel limit (from the header, before decoding; ``read_header``), a JPEG or PNG cut
    short (a readable header, the end mark missing: ``image_signatures.truncated``),
    undecodable, out of memory."""
    return decode_with_header(path, flags, what, max_pixels)[0]


def decode_with_header(
    path: str | os.PathLike, flags: int, what: str = "image", max_pixels: int | None = None
) -> tuple[np.ndarray, ImageHeader | None]:
    """decode_image_file's pixels and the header it checked them by (None: a format PIL does
    not read), for a caller that needs the file's mode too without opening it again."""
    path = Path(path)
    if not path.is_file():
        raise ImageFileError(f"{what} file not found: {path}")
    source = ImageSource.file(path, what)
    header = checked_header(path, source, max_pixels)
    return _decode(_file_bytes(path, what), flags, header, source, pixel_limit(max_pixels)), header


def _file_bytes(path: Path, what: str) -> np.ndarray:
    try:
        return np.fromfile(path, np.uint8)
    except OSError as e:
        raise ImageFileError(
            f"cannot read {what} file {path}: {e.strerror or e}; check that it is readable"
        ) from None


def check_complete(path: str | os.PathLike, what: str = "image") -> None:
    """ImageFileError naming `path` when it is a JPEG or PNG cut short (its end mark missing:
    an interrupted copy), read_image's refusal, without decoding it (``what``: its wording,
    ImageSource.redo)."""
    path = Path(path)
    if _complete_by_ends(path):  # its decoding reads it whole, once
        return
    if (cut := truncated(_file_bytes(path, what))) is not None:
        raise ImageSource.file(path, what).cut_short(cut)


def _complete_by_ends(path: Path) -> bool:
    """image_signatures.complete_by_ends of a file's first and last bytes (False: the whole
    file is to be read, and an unreadable one is _file_bytes' to word)."""
    try:
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            if size <= HEAD_BYTES + TAIL_BYTES:
                return False
            head = file.read(HEAD_BYTES)
            file.seek(size - TAIL_BYTES)
            return complete_by_ends(head, file.read(TAIL_BYTES))
    except OSError:
        return False


def frame_entries(folder: str | os.PathLike) -> list[tuple[str, os.DirEntry]]:
    """A video's frame files in `folder` (FRAME_SUFFIXES, any case) as (stem, the listing's
    entry), in frame_order; hidden files (a Mac's '._<name>' beside each copied file) left out.
    ImageFileError when two share a name (00001.jpg and 00001.png: which is the frame?). Entries,
    not Paths: a long sequence is listed without a Path built, nor a stat made (entry.is_file()
    answers from the listing, but for a link), per file."""
    entries = sorted(((stem, e) for stem, e in entries_with_suffixes(folder, FRAME_SUFFIXES)),
                     key=lambda item: stem_order(item[0]))
    counts = Counter(stem for stem, _ in entries)
    repeated = sorted(stem for stem, count in counts.items() if count > 1)
    if repeated:
        names = ", ".join(sorted(e.name for stem, e in entries if stem == repeated[0]))
        raise ImageFileError(f"{folder}: several frames are named {repeated[0]!r} ({names}); "
                             "rename or move out all but one")
    return entries


def entries_with_suffixes(folder: str | os.PathLike,
                          suffixes: tuple[str, ...]) -> list[tuple[str, os.DirEntry]]:
    """(stem, the listing's entry) of the files in `folder` whose suffix (any case) is one of
    `suffixes` (lower case), in listing order; hidden files (user_files.is_hidden) left out."""
    with os.scandir(folder) as listing:
        named = [(split_name(e.name), e) for e in listing if not is_hidden_name(e.name)]
    return [(stem, e) for (stem, suffix), e in named if suffix.lower() in suffixes]


def split_name(name: str) -> tuple[str, str]:
    """(stem, suffix) of a file name that is not hidden, as Path(name).stem and .suffix."""
    dot = name.rfind(".")
    return (name[:dot], name[dot:]) if 0 < dot < len(name) - 1 else (name, "")


def _decode(
    data: np.ndarray, flags: int, header: ImageHeader | None, source: ImageSource, limit: int
) -> np.ndarray:
    """The checks and the decoding that a file's and an upload's bytes share; bytes without
    a header PIL reads (None: no size known) are decoded only when there is no `limit`."""
    if data.size == 0:
        raise source.refusal("is empty (0 bytes)", source.redo("re-export"))
    if header is None and limit:
        raise _unchecked(data, source)
    if header is not None and (cut := truncated(data)) is not None:  # a header, then cut
        raise source.cut_short(cut)
    try:
        out = cv2.imdecode(data, flags)
    except MemoryError:
        raise source.out_of_memory(header) from None
    except cv2.error as err:  # e.g. dimensions over OpenCV's limits, or no memory
        if "memory" in str(err).lower() or "allocate" in str(err).lower():
            raise source.out_of_memory(header) from None
        out = None
    if out is None and header is not None and header.mode in WIDE_SAMPLES:  # not a TIFF
        raise source.wide(WIDE_SAMPLES[header.mode])
    if out is None:
        raise _unreadable(source, data)
    return out


def _unreadable(source: ImageSource, data: np.ndarray | None = None) -> ImageFileError:
    """The refusal of bytes no decoder read: what they are where their first bytes tell
    (image_signatures.not_an_image), else corrupt or unsupported."""
    known = None if data is None else not_an_image(data[:16].tobytes())
    if known is not None:
        return source.refusal(*known)
    return source.refusal("is not a readable image (corrupt or unsupported format)",
                          source.redo("re-export"), "choose a JPEG, PNG, BMP, TIFF or WebP file")


def _unchecked(data: np.ndarray, source: ImageSource) -> ImageFileError:
    """The refusal of bytes PIL reads no size from: damaged, or a format OpenCV alone reads."""
    kind = unchecked_format(data[:16].tobytes())
    return _unreadable(source, data) if kind is None else source.unchecked(kind)


def out_of_memory(path: Path, header: ImageHeader | None, what: str = "image") -> ImageMemoryError:
    """The one line for memory running out on an image file (reading or predicting)."""
    return ImageSource.file(Path(path), what).out_of_memory(header)


def read_image(
    path: str | os.PathLike, max_pixels: int | None = None, what: str = "image"
) -> np.ndarray:
    """H x W x 3 uint8 RGB; grey is repeated to 3 channels, alpha dropped (the colour as stored,
    whatever the format: _straight_colour), EXIF orientation ignored (see the module docstring).
    Raises ImageFileError (ImageTooLargeError over the pixel limit: max_pixels, default
    ``max_image_pixels()``) or ImageMemoryError; `what` ("frame": a video's) words them."""
    path = Path(path)
    bgr, header = decode_with_header(path, _COLOR, what, max_pixels)
    return _rgb(bgr, header, path, ImageSource.file(path, what))


def read_image_bytes(data: bytes, name: str, max_pixels: int | None = None) -> np.ndarray:
    """read_image for an uploaded file's bytes: the same pixels, checks and refusals, each
    message naming the upload (`name`) and ending in what to do (e.g. choose another file)."""
    source = ImageSource(name)
    header = checked_header(data, source, max_pixels) if data else None
    pixels = _decode(np.frombuffer(data, np.uint8), _COLOR, header, source, pixel_limit(max_pixels))
    return _rgb(pixels, header, data, source)


_COLOR = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION


_ALPHA_MODES = ("RGBA", "LA", "La")  # PIL's for a TIFF with alpha (RGBa opens as RGBA)


def _rgb(
    bgr: np.ndarray, header: ImageHeader | None, data: Path | bytes, source: ImageSource
) -> np.ndarray:
    """The decoded BGR as RGB, in place; a TIFF with alpha gets its colour from PIL."""
    try:
        if header is not None and header.format == "TIFF" and header.mode in _ALPHA_MODES:
            return _straight_colour(data, bgr, source)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB, dst=bgr)  # in place: no second copy
    except (MemoryError, cv2.error):
        raise source.out_of_memory(ImageHeader(bgr.shape[1], bgr.shape[0])) from None


def _straight_colour(data: Path | bytes, out: np.ndarray, source: ImageSource) -> np.ndarray:
    """A TIFF's colour with its alpha dropped, as a PNG's reads, into `out` (OpenCV's decoding,
    whose checks it passed): OpenCV decodes an 8-bit RGBA TIFF through libtiff's RGBA interface,
    which multiplies the colour by the alpha. Associated alpha (the colour stored premultiplied)
    is divided back out, so a picture reads alike in every format (PIL's TIFF decoder does it
    for RGB, convert("LA") for grey: mode La); a fully transparent pixel has none left: black."""
    try:
        with opened_image(data) as im:
            straight = im.convert("LA") if im.mode == "La" else im
            out[...] = np.asarray(straight.convert("RGB"))
    except (OSError, ValueError):  # PIL fails on a file OpenCV decoded: damaged all the same
        raise _unreadable(source) from None
    return out
