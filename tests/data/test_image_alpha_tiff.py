"""An image with alpha reads as the same colours whatever its format (alpha dropped, not
composited). OpenCV decodes an 8-bit RGBA TIFF through libtiff's RGBA interface, which
multiplies the colour by the alpha: (200, 50, 10) at alpha 100 read as (78, 20, 4), the same
pixels as PNG as (200, 50, 10). A TIFF whose alpha is associated (colour stored premultiplied)
reads as its colour with the alpha divided back out."""

import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from samhq_train import image_header, imaging
from tests.data.test_mask_alpha_audit20 import NEEDS_LA_TIFF, associated

RNG = np.random.default_rng(3)
RGB = RNG.integers(0, 256, (6, 9, 3), np.uint8)
RGB[0, 0] = (200, 50, 10)
ALPHA = RNG.integers(0, 256, (6, 9), np.uint8)
ALPHA[0, :3] = (100, 0, 255)  # soft, fully transparent, opaque


def read_both(path: Path) -> tuple[np.ndarray, np.ndarray]:
    return imaging.read_image(path), imaging.read_image_bytes(path.read_bytes(), path.name)


@pytest.mark.parametrize("compression", [None, "tiff_lzw"])
@pytest.mark.parametrize("grey", [False, True], ids=["rgba", "grey_alpha"])
def test_a_tiff_with_alpha_reads_as_the_same_png(tmp_path, grey, compression):
    image = Image.fromarray(np.dstack([RGB[..., 0], ALPHA]) if grey else np.dstack([RGB, ALPHA]))
    image.save(tmp_path / "x.png")
    image.save(tmp_path / "x.tif", compression=compression)
    colour = np.repeat(RGB[..., :1], 3, axis=2) if grey else RGB
    for png, tif in zip(read_both(tmp_path / "x.png"), read_both(tmp_path / "x.tif")):
        np.testing.assert_array_equal(png, colour)
        np.testing.assert_array_equal(tif, png)


@pytest.mark.parametrize("grey", [False, pytest.param(True, marks=NEEDS_LA_TIFF)],
                         ids=["rgba", "grey_alpha"])
def test_associated_alpha_is_divided_back_out(tmp_path, grey):
    """Alpha 51 = 255 / 5: the straight colour comes back exactly; alpha 0 leaves none: black."""
    straight = np.array([[[200, 50, 10], [250, 5, 125], [7, 8, 9]]], np.uint8)
    alpha = np.array([[51, 255, 0]], np.uint8)
    stored = straight // 5 * (alpha[..., None] == 51) + straight * (alpha[..., None] == 255)
    path = tmp_path / "x.tif"
    if grey:
        Image.fromarray(np.dstack([stored[..., 0], alpha]), "LA").save(path)
        straight = np.repeat(straight[..., :1], 3, axis=2)
    else:
        Image.fromarray(np.dstack([stored, alpha])).save(path)
    assert Image.open(associated(path)).mode == ("La" if grey else "RGBA")
    straight[0, 2] = 0
    for pixels in read_both(path):
        np.testing.assert_array_equal(pixels, straight)


def test_an_rgba_tiff_cut_short_is_still_refused(tmp_path, monkeypatch):
    """Its header (and directory) kept, half its pixels gone: refused, even where PIL is told to
    load truncated images (as some libraries do)."""
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    path = tmp_path / "cut.tif"
    Image.fromarray(np.dstack([RGB, ALPHA])).save(path)
    data = path.read_bytes()
    assert struct.unpack("<I", data[4:8])[0] == 8  # the directory first, then the pixels
    path.write_bytes(data[: len(data) // 2])
    assert image_header.read_header(path) is not None
    for read in (lambda: imaging.read_image(path),
                 lambda: imaging.read_image_bytes(path.read_bytes(), path.name)):
        with pytest.raises(image_header.ImageFileError, match="cut.tif is not a readable image"):
            read()
