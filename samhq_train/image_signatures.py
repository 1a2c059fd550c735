"""What an image file's bytes tell before (or instead of) decoding, for imaging.py's refusals:
a JPEG or PNG cut short (truncated), a format OpenCV alone reads (unchecked_format), a format not
read here or a file that is no image (not_an_image). Bytes in, words out: no decoding."""

from __future__ import annotations

import numpy as np

# ISO base media brands (bytes 8-12 after "ftyp") of HEIF pictures (iPhones' .heic) and AVIF
_HEIF_BRANDS = (b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs", b"mif1",
                b"msf1")
_AVIF_BRANDS = (b"avif", b"avis")
_APPLE_DOUBLE = b"\x00\x05\x16\x07"  # macOS's "._<name>" metadata file beside a copied file
_CONVERT = "convert it to JPEG or PNG (e.g. export it as JPEG, or pillow-heif / ImageMagick)"


def not_an_image(head: bytes) -> tuple[str, str, str] | None:
    """(problem, what to do, what to do for an upload) for first bytes that name a format that
    is not read here (HEIC; AVIF where the decoders lack it) or a file that is no image."""
    if head.startswith(_APPLE_DOUBLE):
        return ("is macOS metadata (an AppleDouble '._' file written beside a copied file), not "
                "an image", "delete it (the image is the file without the '._')",
                "choose the image itself")
    brand = head[8:12] if head[4:8] == b"ftyp" else b""
    kind = "HEIC" if brand in _HEIF_BRANDS else "AVIF" if brand in _AVIF_BRANDS else None
    if kind is None:
        return None
    article = "an" if kind == "AVIF" else "a"
    return f"is {article} {kind} image, which is not read", _CONVERT, _CONVERT


# the formats OpenCV decodes that PIL does not open (by their first bytes), named in their refusal
_UNCHECKED_FORMATS = (
    (b"#?RADIANCE", "Radiance HDR"), (b"#?RGBE", "Radiance HDR"), (b"PF\n", "PFM"),
    (b"Pf\n", "PFM"), (b"P7\n", "PAM"), (b"v/1\x01", "OpenEXR"),
)


def unchecked_format(head: bytes) -> str | None:
    """The name of a format OpenCV decodes and PIL does not open, from a file's first bytes."""
    return next((kind for start, kind in _UNCHECKED_FORMATS if head.startswith(start)), None)


# A file cut short (an interrupted copy or download) lacks its end mark. libjpeg would decode a
# cut JPEG with a grey bottom and only a warning on stderr, and PIL with
# ImageFile.LOAD_TRUNCATED_IMAGES (which some libraries switch on) a cut PNG too.
_JPEG_SIGNATURE, _JPEG_END, _JPEG_SCAN = b"\xff\xd8", b"\xff\xd9", 0xDA
_PNG_SIGNATURE, _PNG_END = b"\x89PNG\r\n\x1a\n", b"IEND"
_TAIL = 4096  # the bytes a PNG's end chunk may be followed by (padding)


def truncated(data: np.ndarray) -> str | None:
    """The end mark a JPEG or PNG file's bytes lack (it was cut short), else None. A JPEG's is
    looked for after its first scan, not at the file's end: a phone's motion photo (an MP4
    appended) or MPO (more pictures appended) goes on after the picture's end marker, and the
    EXIF thumbnail before the scan has an end marker of its own."""
    head = data[:8].tobytes()
    if head.startswith(_PNG_SIGNATURE) and _PNG_END not in data[-_TAIL:].tobytes():
        return "PNG end chunk"
    if head.startswith(_JPEG_SIGNATURE):
        raw = data.tobytes()
        scan = _jpeg_first_scan(raw)
        if scan is None or raw.find(_JPEG_END, scan) < 0:
            return "JPEG end marker"
    return None


HEAD_BYTES, TAIL_BYTES = 16384, _TAIL  # a file's ends that complete_by_ends reads


def complete_by_ends(head: bytes, tail: bytes) -> bool:
    """Whether a file's first HEAD_BYTES (`head`) and last TAIL_BYTES (`tail`), apart (the file
    is longer than both), show what truncated() of its whole bytes would: not cut short. True
    for a PNG with its end chunk in the tail, a JPEG whose first scan starts in the head and
    whose end marker is in the tail (after the scan, then), any other format; False when the
    whole bytes must decide (a JPEG with headers longer than the head or bytes after its end
    marker, a file cut short), so that a complete frame is checked without reading it whole."""
    if head.startswith(_PNG_SIGNATURE):
        return _PNG_END in tail
    if head.startswith(_JPEG_SIGNATURE):
        return _jpeg_first_scan(head) is not None and _JPEG_END in tail
    return True


def _jpeg_first_scan(raw: bytes) -> int | None:
    """Where a JPEG's first scan (SOS marker) starts, its header segments (APPn with the EXIF
    thumbnail, tables, frame) stepped over by their lengths; None when the bytes end first."""
    pos = 2
    while pos + 4 <= len(raw):
        if raw[pos] != 0xFF:
            return pos  # not a marker: damaged, the decoder reports it
        marker = raw[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
        elif marker == _JPEG_SCAN:
            return pos
        elif marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            pos += 2
        else:
            pos += 2 + (raw[pos + 2] << 8 | raw[pos + 3])
    return None
