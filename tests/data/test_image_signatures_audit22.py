"""Mutation audit 22 of image_signatures.py (what a file's first / last bytes tell): the ISO
brand read only after "ftyp", AVIF named, a PNG's end chunk found before trailing padding, and the
JPEG header walk (fill bytes, the length-less TEM marker, a damaged header, a file cut before its
scan with an end marker in its EXIF thumbnail)."""

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from samhq_train import imaging
from samhq_train.image_signatures import not_an_image, truncated

SOI, EOI, SOS = b"\xff\xd8", b"\xff\xd9", b"\xff\xda"


def _bytes(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, np.uint8)


def _segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((8, 8, 3), 90, np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


# an APP1 segment whose payload holds an end marker, as an EXIF thumbnail's JPEG does
THUMBNAIL = _segment(0xE1, b"Exif\0\0" + SOI + b"thumb" + EOI)


def test_an_iso_brand_is_read_only_after_ftyp():
    box = b"\0\0\0\x18ftyp"
    assert not_an_image(box + b"heic" + bytes(8))[0] == "is a HEIC image, which is not read"
    assert not_an_image(box + b"avif" + bytes(8))[0] == "is an AVIF image, which is not read"
    assert not_an_image(b"\0\0\0\x18junkheic" + bytes(8)) is None  # no ftyp box: not HEIF


def test_a_png_with_padding_after_its_end_chunk_is_not_truncated(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.full((6, 5), 7, np.uint8)).save(buf, "PNG")
    padded = buf.getvalue() + bytes(1000)  # a tool padding the file to a block size
    assert truncated(_bytes(padded)) is None
    path = tmp_path / "padded.png"
    path.write_bytes(padded)
    assert imaging.decode_image_file(path, cv2.IMREAD_GRAYSCALE).shape == (6, 5)
    assert truncated(_bytes(buf.getvalue()[:-12])) == "PNG end chunk"


def test_a_jpeg_cut_before_its_scan_is_truncated_despite_its_thumbnails_end_marker():
    cut = SOI + THUMBNAIL + _segment(0xDB, bytes(65))  # the bytes end before any scan
    assert truncated(_bytes(cut)) == "JPEG end marker"


def test_a_fill_byte_before_a_marker_is_stepped_over():
    cut = SOI + b"\xff" + THUMBNAIL + SOS + b"\x00\x0c" + bytes(40)  # no end after the scan
    assert truncated(_bytes(cut)) == "JPEG end marker"


def test_a_tem_marker_has_no_length():
    whole = _jpeg()
    with_tem = whole[:2] + b"\xff\x01" + whole[2:]
    assert truncated(_bytes(with_tem)) is None


def test_a_damaged_header_is_left_to_the_decoder_not_called_truncated():
    damaged = SOI + b"\x00\x11garbage" + SOS + EOI
    assert truncated(_bytes(damaged)) is None


@pytest.mark.parametrize("cut", [3, 40])
def test_a_jpeg_cut_in_its_header_segments_is_truncated(cut):
    assert truncated(_bytes(_jpeg()[:cut])) == "JPEG end marker"
