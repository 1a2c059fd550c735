"""check_complete tells a frame cut short from its ends only where its ends decide
(image_signatures.complete_by_ends); a JPEG whose first scan is not in its first bytes, or a
file too short for its first and last bytes to be apart, is decided by its whole bytes. An EXIF
thumbnail's end marker (before the picture's scan) must not pass for the picture's."""

import io

import numpy as np
import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from samhq_train.image_header import ImageFileError
from samhq_train.image_signatures import HEAD_BYTES, TAIL_BYTES, truncated
from samhq_train.imaging import check_complete


def _jpeg(side: int, quality: int = 90, seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=quality)
    return out.getvalue()


def _png(side: int, seed: int = 0) -> bytes:
    """A PNG whose first bytes hold "IEND" in a text chunk: only its last bytes' count."""
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), np.uint8)
    info = PngInfo()
    info.add_text("Comment", "IEND")
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def _with_thumbnail(picture: bytes, thumbnail: bytes) -> bytes:
    """`picture` with an APP1 (EXIF) segment holding `thumbnail`, end marker and all."""
    payload = b"Exif\x00\x00" + thumbnail
    return picture[:2] + b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload + picture[2:]


def _cut_after_scan(data: bytes, thumbnail: bytes, extra: int) -> bytes:
    scan = data.index(b"\xff\xda", 2 + 4 + 6 + len(thumbnail))  # the picture's own scan
    return data[: scan + extra]


def _refused(tmp_path, data: bytes) -> None:
    path = tmp_path / "00000.jpg"
    path.write_bytes(data)
    assert truncated(np.frombuffer(data, np.uint8)) == "JPEG end marker"
    with pytest.raises(ImageFileError, match=r"is truncated \(JPEG end marker missing\)"):
        check_complete(path, "frame")


def test_a_short_jpeg_cut_after_its_thumbnail_is_refused(tmp_path):
    """A file shorter than its ends read: the thumbnail's end marker is among its last bytes."""
    thumbnail = _jpeg(64, 95, seed=1)
    data = _with_thumbnail(_jpeg(48, seed=2), thumbnail)
    cut = _cut_after_scan(data, thumbnail, 200)
    assert TAIL_BYTES < len(cut) <= HEAD_BYTES + TAIL_BYTES
    assert b"\xff\xd9" in cut[-TAIL_BYTES:]  # the thumbnail's
    _refused(tmp_path, cut)


def test_a_jpeg_whose_scan_is_past_its_head_cut_after_a_large_thumbnail_is_refused(tmp_path):
    thumbnail = _jpeg(160, 100, seed=3)  # an EXIF thumbnail longer than the head read
    assert len(thumbnail) > HEAD_BYTES
    data = _with_thumbnail(_jpeg(200, seed=4), thumbnail)
    cut = _cut_after_scan(data, thumbnail, 2000)
    assert len(cut) > HEAD_BYTES + TAIL_BYTES and b"\xff\xd9" in cut[-TAIL_BYTES:]
    _refused(tmp_path, cut)


@pytest.mark.parametrize("kind", ["jpeg", "png"])
def test_a_frame_cut_anywhere_is_told_as_its_whole_bytes_tell(tmp_path, kind):
    # the JPEG with an EXIF thumbnail: an end marker among its first bytes, before its scan
    data = _with_thumbnail(_jpeg(200), _jpeg(16)) if kind == "jpeg" else _png(120)
    assert b"\xff\xd9" in data[:HEAD_BYTES] or b"IEND" in data[:HEAD_BYTES]
    assert len(data) > HEAD_BYTES + TAIL_BYTES + 8000
    path = tmp_path / f"frame.{kind}"
    refused = 0
    for end in [len(data), *range(len(data) - 40, len(data)),
                *range(HEAD_BYTES + TAIL_BYTES + 1, len(data), 997)]:
        path.write_bytes(data[:end])
        if truncated(np.frombuffer(data[:end], np.uint8)) is None:
            check_complete(path, "frame")
        else:
            refused += 1
            with pytest.raises(ImageFileError, match="is truncated"):
                check_complete(path, "frame")
    assert refused > 20


def test_a_frame_that_cannot_be_opened_is_not_told_complete(tmp_path):
    unreadable = tmp_path / "00000.jpg"
    unreadable.mkdir()  # open() fails on it, as on a file without read permission
    with pytest.raises(ImageFileError, match="cannot read frame file"):
        check_complete(unreadable, "frame")
