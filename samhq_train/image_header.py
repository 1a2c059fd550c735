"""Image files' headers, read before any pixel is decoded: the pixel limit, and the size,
orientation and sample kind it is checked by; the image file errors and their wording
(``ImageSource``), which imaging.py's decoder shares. Callers import these names from here,
the reading itself from imaging.

- The pixel limit: the width and height are read from the file's header and an image over
  ``max_image_pixels()`` (default 100 MP; 0: no limit) is refused in one line
  (``ImageTooLargeError``) instead of filling the memory. ``set_max_image_pixels`` sets it
  (samhq-predict ``--max-pixels``, the data config's ``data.max_image_pixels``); it travels in the
  environment variable SAMHQ_MAX_IMAGE_PIXELS, so data-loader workers see it too, and PIL's own
  ``Image.MAX_IMAGE_PIXELS`` follows it. A file whose header PIL cannot read (damaged, or a
  format only OpenCV decodes: Radiance HDR, PFM, PAM) has no size to check: imaging refuses it
  in one line, and decodes it only when there is no limit (0).
- ``read_header``: width, height, the EXIF orientation flag (which the reader ignores; a note
  tells it) and PIL's mode; a TIFF's 32-bit samples (which OpenCV does not decode to 8 bits) are
  refused here, before decoding.
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

from PIL import Image

from samhq_train import compat
from samhq_train.errors import UserError

MAX_PIXELS_ENV = "SAMHQ_MAX_IMAGE_PIXELS"
DEFAULT_MAX_PIXELS = 100_000_000  # 100 MP: a 10000 x 10000 image, ~0.3 GB as uint8 RGB
EXIF_ORIENTATION = 0x0112
BITS_PER_SAMPLE = 258  # the TIFF tag
# PIL's modes for the sample kinds OpenCV does not decode to 8 bits (it does 1-, 8- and 16-bit)
WIDE_SAMPLES = {"F": "32-bit floating-point", "I": "32-bit integer"}
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


def pixel_limit(max_pixels: int | None) -> int:
    """`max_pixels`, or the process's limit when None."""
    return max_image_pixels() if max_pixels is None else max_pixels


def _follow_in_pil() -> None:
    """PIL's own decompression-bomb limit follows ours (it warns above it, refuses above 2x)."""
    try:
        Image.MAX_IMAGE_PIXELS = max_image_pixels() or None
    except UserError:  # a malformed environment value is reported where an image is read
        pass


_follow_in_pil()


# ---- the refusals' wording --------------------------------------------------------------------


@dataclass(frozen=True)
class ImageSource:
    """How the messages name an image's bytes and say what to do: a file (``path``; fix or
    remove it) or an upload (``name`` alone: choose another file)."""

    name: str
    path: Path | None = None
    what: str = "image"

    @classmethod
    def file(cls, path: Path, what: str = "image") -> ImageSource:
        return cls(path.name, path, what)

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

    def unchecked(self, kind: str) -> ImageFileError:
        """A format PIL reads no size from (`kind`: what its first bytes tell), under a limit."""
        return self.refusal(
            f"is a {kind} image, whose size cannot be checked against the pixel limit before "
            "decoding", f"convert it to PNG, JPEG, TIFF or WebP (or set {_limit_setting} to 0: "
            "no limit)", "convert it to PNG, JPEG, TIFF or WebP",
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


# ---- the header -------------------------------------------------------------------------------

# how a viewer shows a file with each EXIF orientation flag but 1 (the reader uses it as stored)
ORIENTATIONS = {
    2: "mirrored",
    3: "rotated 180",
    4: "flipped",
    5: "transposed",
    6: "rotated 90",
    7: "transversed",
    8: "rotated 270",
}


@dataclass(frozen=True)
class ImageHeader:
    width: int
    height: int
    orientation: int = 1  # the EXIF orientation flag; 1: display as stored
    mode: str = field(default="", compare=False)  # PIL's: "RGB", "P", "I;16", "F" ...
    wide_samples: str = field(default="", compare=False)  # "32-bit integer": _wide_samples
    format: str = field(default="", compare=False)  # PIL's: "PNG", "TIFF" ...

    @property
    def orientation_note(self) -> str:
        """What samhq-predict and samhq-app say after an image's name when its EXIF orientation
        asks viewers to turn it ("" when not): the pixels are used as stored."""
        turn = ORIENTATIONS.get(self.orientation)
        if turn is None:
            return ""
        return (f"has EXIF orientation {self.orientation} (viewers show it {turn}): used as "
                "stored; prompts and masks are in the stored pixel grid")


def read_header(
    path: str | os.PathLike, what: str = "image", max_pixels: int | None = None
) -> ImageHeader | None:
    """Width, height and EXIF orientation from the file's header, without decoding the pixels;
    ImageTooLargeError over the pixel limit (max_pixels, default ``max_image_pixels()``). None
    when PIL does not know the format (or the file is damaged): the reader refuses such a file
    unless there is no pixel limit (then OpenCV's decoder decides)."""
    path = Path(path)
    return checked_header(path, ImageSource.file(path, what), max_pixels)


def checked_header(
    data: Path | bytes, source: ImageSource, max_pixels: int | None
) -> ImageHeader | None:
    """read_header for a file's path or an upload's bytes, its refusals worded by `source`."""
    limit = pixel_limit(max_pixels)
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


@contextmanager
def opened_image(source: Path | bytes) -> Iterator[Image.Image]:
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
    with opened_image(source) as im:
        width, height = im.size
        if _turned_tiff(im) and not compat.tiff_size_turned_at_open():
            width, height = height, width
        return ImageHeader(width, height, _orientation(im), im.mode, _wide_samples(im), im.format)


def _turned_tiff(im: Image.Image) -> bool:
    """A TIFF whose Orientation tag turns it a quarter (5-8): decoded transposed."""
    tags = getattr(im, "tag_v2", None)
    return tags is not None and tags.get(EXIF_ORIENTATION) in (5, 6, 7, 8)


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


def _wide_samples(im: Image.Image) -> str:
    """The kind of a TIFF's 32-bit integer or float samples (which OpenCV does not decode to
    8 bits), else "". Mode I alone would not do: a 16-bit PGM or signed 16-bit TIFF opens as I
    too (and a 16-bit PNG in Pillow < 10.3), so the file's BitsPerSample decides."""
    if im.format != "TIFF" or im.mode not in WIDE_SAMPLES:
        return ""
    bits = im.tag_v2.get(BITS_PER_SAMPLE)
    bits = bits if isinstance(bits, tuple) else (bits,)
    return WIDE_SAMPLES[im.mode] if all(b == 32 for b in bits) else ""
