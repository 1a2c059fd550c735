"""Mutation audit 20: a mask with an alpha channel as it shows over black. Its grey times the
alpha is rounded (a soft edge's pixel on the threshold keeps its side). A mask whose grey OpenCV
hands over multiplied by the alpha already is read as decoded: an RGBA TIFF (OpenCV decodes it
through libtiff's RGBA interface, which premultiplies), a grey TIFF with associated alpha (PIL's
mode La, bands L and a: its grey stored premultiplied); multiplied a second time, a soft
cut-out's edge shrank, and the La file was refused."""

import struct
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from samhq_train.data.image_files import DataError, read_mask

EXTRA_SAMPLES = 338  # the TIFF tag; 1: associated (premultiplied) alpha, 2: unassociated

# a white cut-out whose alpha is the object, with a soft edge: 255 inside, 60-200 on the edge
ALPHA = np.zeros((8, 10), np.uint8)
ALPHA[2:6, 2:8] = 255
ALPHA[2, 2:8] = [60, 100, 140, 160, 180, 200]


def associated(path: Path) -> Path:
    """The TIFF at `path` (one little-endian IFD, as Pillow writes it) marked premultiplied."""
    data = bytearray(path.read_bytes())
    ifd = struct.unpack("<I", data[4:8])[0]
    for entry in range(struct.unpack("<H", data[ifd : ifd + 2])[0]):
        at = ifd + 2 + 12 * entry
        if struct.unpack("<H", data[at : at + 2])[0] == EXTRA_SAMPLES:
            data[at + 8 : at + 10] = struct.pack("<H", 1)
            path.write_bytes(bytes(data))
            return path
    raise AssertionError("no ExtraSamples tag")


def _pil_opens_grey_premultiplied_tiff() -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "probe.tif"
        Image.fromarray(np.dstack([ALPHA, ALPHA]), "LA").save(path)
        try:
            Image.open(associated(path)).load()
        except OSError:  # UnidentifiedImageError
            return False
    return True


# Pillow opens a grey TIFF with associated alpha (mode La) from 13.0 (pyproject.toml's floor is
# older): before, such a file is refused in one line like any unreadable image
NEEDS_LA_TIFF = pytest.mark.skipif(not _pil_opens_grey_premultiplied_tiff(),
                                   reason="this Pillow opens no grey TIFF with premultiplied alpha")


def test_an_rgba_tiff_cut_out_reads_as_the_same_png(tmp_path):
    rgba = Image.fromarray(np.dstack([np.full_like(ALPHA, 255)] * 3 + [ALPHA]))
    rgba.save(tmp_path / "cut.png")
    rgba.save(tmp_path / "cut.tif")
    np.testing.assert_array_equal(read_mask(tmp_path / "cut.png"), ALPHA)  # 255 x a / 255
    np.testing.assert_array_equal(read_mask(tmp_path / "cut.tif"), ALPHA)


@NEEDS_LA_TIFF
def test_a_grey_tiff_with_premultiplied_alpha_reads_as_stored(tmp_path):
    path = tmp_path / "cut.tif"
    Image.fromarray(np.dstack([ALPHA, ALPHA]), "LA").save(path)  # white x alpha, stored
    assert Image.open(associated(path)).mode == "La"
    np.testing.assert_array_equal(read_mask(path), ALPHA)


@NEEDS_LA_TIFF
def test_black_on_premultiplied_transparency_is_refused_as_such(tmp_path):
    path = tmp_path / "outline.tif"
    Image.fromarray(np.dstack([ALPHA * 0, ALPHA]), "LA").save(path)
    with pytest.raises(DataError, match="its object is only in the alpha channel"):
        read_mask(associated(path))


def test_the_grey_times_the_alpha_is_rounded_not_cut(tmp_path):
    """200 x 164 / 255 = 128.6: object (129) when rounded, background (128) when cut."""
    grey = np.full((4, 4), 200, np.uint8)
    alpha = np.full((4, 4), 164, np.uint8)
    alpha[0] = 0
    Image.fromarray(np.dstack([grey] * 3 + [alpha])).save(tmp_path / "soft.png")
    assert read_mask(tmp_path / "soft.png")[1:].tolist() == [[129] * 4] * 3


def test_an_empty_mask_under_a_nearly_opaque_alpha_is_empty_not_an_alpha_outline(tmp_path):
    """Black everywhere, alpha 200 everywhere: nothing is outlined by the alpha (no pixel is
    transparent), so it is an empty mask (skipped in training), not the alpha refusal."""
    black = np.zeros((4, 4), np.uint8)
    Image.fromarray(np.dstack([black] * 3 + [np.full_like(black, 200)])).save(tmp_path / "e.png")
    assert read_mask(tmp_path / "e.png").max() == 0


def test_a_16_bit_mask_with_alpha_is_refused_as_16_bit(tmp_path):
    grey = np.full((4, 4), 65535, np.uint16)
    alpha = np.full((4, 4), 30000, np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), np.dstack([grey] * 3 + [alpha]))
    with pytest.raises(DataError, match="is a uint16 mask; expected 8-bit"):
        read_mask(tmp_path / "deep.png")


def test_an_object_over_black_at_the_threshold_alone_is_an_alpha_outline(tmp_path):
    """Mid grey (128) where the alpha is the object: over black at most 128, not object (> 128),
    so the object is only in the alpha channel."""
    grey = np.full_like(ALPHA, 128)
    Image.fromarray(np.dstack([grey] * 3 + [np.where(ALPHA > 0, 255, 0)]).astype(np.uint8)).save(
        tmp_path / "mid.png")
    with pytest.raises(DataError, match="its object is only in the alpha channel"):
        read_mask(tmp_path / "mid.png")


def test_a_mask_in_a_format_pil_does_not_open_reads_as_opencv_decodes_it(tmp_path, monkeypatch):
    """PAM: no header from PIL (decode_with_header's None), so no alpha is looked for there; read
    only with the pixel limit off (under a limit its size cannot be checked, so it is refused)."""
    monkeypatch.setenv("SAMHQ_MAX_IMAGE_PIXELS", "0")
    mask = np.where(ALPHA > 0, 255, 0).astype(np.uint8)
    cv2.imwrite(str(tmp_path / "m.pam"), mask)
    np.testing.assert_array_equal(read_mask(tmp_path / "m.pam"), mask)
