"""Pixels in: reading image files, one home (the resize rules are resizing.py's, overlay
pictures, the pixels out, drawing.py's).

Dependency-free within the project (numpy, OpenCV, PIL; image_signatures and the neutral
user_files), so that data, model, inference and evaluation all use it without importing each
other.

- ``read_image`` / ``decode_image_file``: the one image reader (``read_image_bytes``: the same
  for an upload's bytes, samhq-app's). EXIF orientation is IGNORED everywhere (training,
  evaluation, the predictor, COCO, the app): pixels stay in the stored grid, the grid
  that masks, boxes and points are given in (and what the official training / evaluation loaders
  do). A photo whose camera wrote a rotation flag is therefore used as stored, not as a viewer
  shows it (``read_header`` tells its orientation, for a note); the exception is a TIFF's
  Orientation tag, which libtiff applies in OpenCV and PIL alike (its pixels and its header's
  size come upright: orientation 1). A file of several frames (an animated GIF, a multi-page
  TIFF, a phone's MPO JPEG) is read as its first frame, the picture every decoder and viewer
  starts with. Problems raise ``ImageFileError``
  (a UserError and ValueError) naming the file; data wraps it in DataError, inference in
  ImageReadError.
- The pixel limit: before decoding, the width and height are read from the file's header and an
  image over ``max_image_pixels()`` (default 100 MP; 0: no limit) is refused in one line
  (``ImageTooLargeError``) instead of filling the memory. ``set_max_image_pixels`` sets it
  (samhq-predict ``--max-pixels``, the data config's ``data.max_image_pixels``); it travels in the
  environment variable SAMHQ_MAX_IMAGE_PIXELS, so data-loader workers see it too, and PIL's own
  ``Image.MAX_IMAGE_PIXELS`` follows it. A file whose header PIL cannot read (damaged, or a
  format only OpenCV decodes: Radiance HDR, PFM, PAM) has no size to check: it is refused in one
  line, and decoded only when there is no limit (0). Running out of memory while decoding is
  ``ImageMemoryError`` (a UserError and MemoryError), never "not a readable image".
- A video's frame files: ``frame_files`` lists them (video training's and samhq-video's one
  rule), ``read_image(what="frame")`` words a damaged one's refusal (replace it, not remove it).
  Annotation PNGs (video object segmentation masks) are mask_png.py's, beside this reader.
"""

from __future__ import annotations

import io
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from samhq_train.errors import UserError
from samhq_train.image_signatures import not_an_image, truncated, unchecked_format
from samhq_train.user_files import frame_order, is_hidden

# the suffixes (any case) a folder's images are listed by: training's folder sets,
# samhq-predict's and samhq-amg's folders; the content, not the suffix, decides the decoding
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
# a video's frame files (samhq-video's frames folders, video training's JPEGImages/<sequence>)
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png")
MAX_PIXELS_ENV = "SAMHQ_MAX_IMAGE_PIXELS"
DEFAULT_MAX_PIXELS = 100_000_000  # 100 MP: a 10000 x 10000 image, ~0.3 GB as uint8 RGB
EXIF_ORIENTATION = 0x0112
BITS_PER_SAMPLE = 258  # the TIFF tag
# PIL's modes for the sample kinds OpenCV does not decode to 8 bits (it does 1-, 8- and 16-bit)
_WIDE_SAMPLES = {"F": "32-bit floating-point", "I": "32-bit integer"}
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
    mode: str = field(default="", compare=False)  # PIL's: "RGB", "P", "I;16", "F" ...
    wide_samples: str = field(default="", compare=False)  # "32-bit integer": _wide_samples
    format: str = field(default="", compare=False)  # PIL's: "PNG", "TIFF" ...


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation flag still to apply to the decoded pixels, from the header only
    (PIL's getexif may decode a PNG). A TIFF's Orientation tag is applied by libtiff in both
    decoders (and in PIL's size): its pixels come upright, nothing is left to apply (1)."""
    if getattr(im, "tag_v2", None) is not None:  # TIFF
        return 1
    raw = im.info.get("exif")
    if not raw:
        return 1
    exif = Image.Exif()
    try:
        exif.load(raw)
    except Exception:  # a damaged EXIF block says nothing about the pixels
        return 1
    return int(exif.get(EXIF_ORIENTATION, 1) or 1)


@contextmanager
def _opened(source: Path | bytes) -> Iterator[Image.Image]:
    """PIL's Image.open (no pixels decoded yet) for an image whose size our own limit checks:
    PIL's decompression-bomb refusal (over twice its limit) is lifted for the open."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(source if isinstance(source, Path) else io.BytesIO(source))
        except Image.DecompressionBombError:
            with _PIL_LIMIT_LOCK:
                saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
                try:
                    im = Image.open(source if isinstance(source, Path) else io.BytesIO(source))
                finally:
                    Image.MAX_IMAGE_PIXELS = saved
    with im:
        yield im


def _open_header(source: Path | bytes) -> ImageHeader:
    """Width, height and orientation as PIL's Image.open reads them (no pixels decoded)."""
    with _opened(source) as im:
        return ImageHeader(*im.size, _orientation(im), im.mode, _wide_samples(im), im.format)


def _wide_samples(im: Image.Image) -> str:
    """The kind of a TIFF's 32-bit integer or float samples (which OpenCV does not decode to
    8 bits), else "". Mode I alone would not do: a 16-bit PGM or signed 16-bit TIFF opens as I
    too (and a 16-bit PNG in Pillow < 10.3), so the file's BitsPerSample decides."""
    if im.format != "TIFF" or im.mode not in _WIDE_SAMPLES:
        return ""
    bits = im.tag_v2.get(BITS_PER_SAMPLE)
    bits = bits if isinstance(bits, tuple) else (bits,)
    return _WIDE_SAMPLES[im.mode] if all(b == 32 for b in bits) else ""


@dataclass(frozen=True)
class _Source:
    """How the messages name an image's bytes and say what to do: a file (``path``; fix or
    remove it) or an upload (``name`` alone: choose another file)."""

    name: str
    path: Path | None = None
    what: str = "image"

    def redo(self, verb: str) -> str:
        """What to do with a damaged file: `verb` (re-export, re-download) or remove it; a video
        frame or annotation is replaced instead (a frame removed shifts every later one's index,
        an annotation removed leaves its frame out of the clips)."""
        if self.what == "frame":
            return "copy or extract it again (removing it would shift every later frame's index)"
        return "copy or export it again" if self.what == "annotation" else f"{verb} or remove it"

    def refusal(self, problem: str, fix: str, upload_fix: str = "choose another file"
                ) -> ImageFileError:
        if self.path is None:
            return ImageFileError(f"{self.name} {problem}; {upload_fix}")
        return ImageFileError(f"cannot read {self.what} file {self.path}: {self.name} {problem}; "
                              f"{fix}")

    def cut_short(self, end_mark: str) -> ImageFileError:
        return self.refusal(f"is truncated ({end_mark} missing)", self.redo("re-download"))

    def too_large(self, size: str, limit: int) -> ImageTooLargeError:
        over = f"is {size}, over the pixel limit of {limit:,} ({limit / 1e6:g} MP)"
        if self.path is None:
            return ImageTooLargeError(f"{self.name} {over}; downscale it or choose another file")
        return ImageTooLargeError(
            f"{self.what} file {self.path} {over}; raise {_limit_setting} (0: no limit) if the "
            "memory allows, or downscale the image"
        )

    def wide(self, kind: str) -> ImageFileError:
        """Samples OpenCV does not decode (a valid file: "corrupt" would mislead)."""
        eight_bit = "save it as 8-bit " + ("grayscale" if self.what == "mask" else
                                           "(RGB or grayscale)")
        return self.refusal(f"holds {kind} samples, which are not read", eight_bit, eight_bit)

    def out_of_memory(self, header: ImageHeader | None) -> ImageMemoryError:
        size = f" ({header.width} x {header.height} pixels)" if header else ""
        where = self.name if self.path is None else f"{self.what} file {self.path}"
        return ImageMemoryError(
            f"out of memory on {where}{size}; free memory, or lower the pixel limit "
            f"({_limit_setting}) to refuse images this large"
        )


def read_header(
    path: str | os.PathLike, what: str = "image", max_pixels: int | None = None
) -> ImageHeader | None:
    """Width, height and EXIF orientation from the file's header, without decoding the pixels;
    ImageTooLargeError over the pixel limit (max_pixels, default ``max_image_pixels()``). None
    when PIL does not know the format (or the file is damaged): the reader refuses such a file
    unless there is no pixel limit (then OpenCV's decoder decides)."""
    path = Path(path)
    return _checked_header(path, _Source(path.name, path, what), max_pixels)


def _limit(max_pixels: int | None) -> int:
    return max_image_pixels() if max_pixels is None else max_pixels


def _checked_header(
    data: Path | bytes, source: _Source, max_pixels: int | None
) -> ImageHeader | None:
    limit = _limit(max_pixels)
    try:
        header = _open_header(data)
    except Exception:  # not an image PIL knows (or damaged): OpenCV's decoder reports it
        return None
    if limit and header.width * header.height > limit:
        size = f"{header.width} x {header.height} = {header.width * header.height:,} pixels"
        raise source.too_large(size, limit)
    if header.wide_samples:
        raise source.wide(header.wide_samples)
    return header


# ---- reading ----------------------------------------------------------------------------------


def decode_image_file(
    path: str | os.PathLike, flags: int, what: str = "image", max_pixels: int | None = None
) -> np.ndarray:
    """``cv2.imdecode(file bytes, flags)`` with clear errors: missing, unreadable or empty file,
    over the pixel limit (from the header, before decoding; ``read_header``), a JPEG or PNG cut
    short (a readable header, the end mark missing: ``image_signatures.truncated``), undecodable, out of
    memory."""
    return decode_with_header(path, flags, what, max_pixels)[0]


def decode_with_header(
    path: str | os.PathLike, flags: int, what: str = "image", max_pixels: int | None = None
) -> tuple[np.ndarray, ImageHeader | None]:
    """decode_image_file's pixels and the header it checked them by (None: a format PIL does
    not read), for a caller that needs the file's mode too without opening it again."""
    path = Path(path)
    if not path.is_file():
        raise ImageFileError(f"{what} file not found: {path}")
    source = _Source(path.name, path, what)
    header = _checked_header(path, source, max_pixels)
    return _decode(_file_bytes(path, what), flags, header, source, _limit(max_pixels)), header


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
    _Source.redo)."""
    path = Path(path)
    if (cut := truncated(_file_bytes(path, what))) is not None:
        raise _Source(path.name, path, what).cut_short(cut)


def frame_files(folder: Path) -> list[Path]:
    """A video's frame files in `folder` (FRAME_SUFFIXES, any case), in frame_order; hidden files
    (a Mac's '._<name>' beside each copied file) left out. ImageFileError when two share a name
    (00001.jpg and 00001.png: which is the frame?)."""
    frames = sorted((p for p in folder.iterdir()
                     if p.suffix.lower() in FRAME_SUFFIXES and not is_hidden(p)), key=frame_order)
    stems = [p.stem for p in frames]
    repeated = sorted({s for s in stems if stems.count(s) > 1})
    if repeated:
        names = ", ".join(sorted(p.name for p in frames if p.stem == repeated[0]))
        raise ImageFileError(f"{folder}: several frames are named {repeated[0]!r} ({names}); "
                             "rename or move out all but one")
    return frames


def _decode(
    data: np.ndarray, flags: int, header: ImageHeader | None, source: _Source, limit: int
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
    if out is None and header is not None and header.mode in _WIDE_SAMPLES:  # not a TIFF
        raise source.wide(_WIDE_SAMPLES[header.mode])
    if out is None:
        raise _unreadable(source, data)
    return out


def _unreadable(source: _Source, data: np.ndarray | None = None) -> ImageFileError:
    """The refusal of bytes no decoder read: what they are where their first bytes tell
    (image_signatures.not_an_image), else corrupt or unsupported."""
    known = None if data is None else not_an_image(data[:16].tobytes())
    if known is not None:
        return source.refusal(*known)
    return source.refusal("is not a readable image (corrupt or unsupported format)",
                          source.redo("re-export"), "choose a JPEG, PNG, BMP, TIFF or WebP file")


def _unchecked(data: np.ndarray, source: _Source) -> ImageFileError:
    """The refusal of bytes PIL reads no size from: damaged, or a format OpenCV alone reads."""
    head = data[:16].tobytes()
    kind = unchecked_format(head)
    if kind is None:
        return _unreadable(source, data)
    return source.refusal(
        f"is a {kind} image, whose size cannot be checked against the pixel limit before "
        "decoding", f"convert it to PNG, JPEG, TIFF or WebP (or set {_limit_setting} to 0: no "
        "limit)", "convert it to PNG, JPEG, TIFF or WebP",
    )


def out_of_memory(path: Path, header: ImageHeader | None, what: str = "image") -> ImageMemoryError:
    """The one line for memory running out on an image file (reading or predicting)."""
    return _Source(Path(path).name, Path(path), what).out_of_memory(header)


def read_image(
    path: str | os.PathLike, max_pixels: int | None = None, what: str = "image"
) -> np.ndarray:
    """H x W x 3 uint8 RGB; grey is repeated to 3 channels, alpha dropped (the colour as stored,
    whatever the format: _straight_colour), EXIF orientation ignored (see the module docstring).
    Raises ImageFileError (ImageTooLargeError over the pixel limit: max_pixels, default
    ``max_image_pixels()``) or ImageMemoryError; `what` ("frame": a video's) words them."""
    path = Path(path)
    bgr, header = decode_with_header(path, _COLOR, what, max_pixels)
    return _rgb(bgr, header, path, _Source(path.name, path, what))


def read_image_bytes(data: bytes, name: str, max_pixels: int | None = None) -> np.ndarray:
    """read_image for an uploaded file's bytes: the same pixels, checks and refusals, each
    message naming the upload (`name`) and ending in what to do (e.g. choose another file)."""
    source = _Source(name)
    header = _checked_header(data, source, max_pixels) if data else None
    pixels = _decode(np.frombuffer(data, np.uint8), _COLOR, header, source, _limit(max_pixels))
    return _rgb(pixels, header, data, source)


_COLOR = cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION


_ALPHA_MODES = ("RGBA", "LA", "La")  # PIL's for a TIFF with alpha (RGBa opens as RGBA)


def _rgb(
    bgr: np.ndarray, header: ImageHeader | None, data: Path | bytes, source: _Source
) -> np.ndarray:
    """The decoded BGR as RGB, in place; a TIFF with alpha gets its colour from PIL."""
    try:
        if header is not None and header.format == "TIFF" and header.mode in _ALPHA_MODES:
            return _straight_colour(data, bgr, source)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB, dst=bgr)  # in place: no second copy
    except (MemoryError, cv2.error):
        raise source.out_of_memory(ImageHeader(bgr.shape[1], bgr.shape[0])) from None


def _straight_colour(data: Path | bytes, out: np.ndarray, source: _Source) -> np.ndarray:
    """A TIFF's colour with its alpha dropped, as a PNG's reads, into `out` (OpenCV's decoding,
    whose checks it passed): OpenCV decodes an 8-bit RGBA TIFF through libtiff's RGBA interface,
    which multiplies the colour by the alpha. Associated alpha (the colour stored premultiplied)
    is divided back out, so a picture reads alike in every format (PIL's TIFF decoder does it
    for RGB, convert("LA") for grey: mode La); a fully transparent pixel has none left: black."""
    try:
        with _opened(data) as im:
            straight = im.convert("LA") if im.mode == "La" else im
            out[...] = np.asarray(straight.convert("RGB"))
    except (OSError, ValueError):  # PIL fails on a file OpenCV decoded: damaged all the same
        raise _unreadable(source) from None
    return out
