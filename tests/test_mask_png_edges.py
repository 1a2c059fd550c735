"""imaging's annotation-PNG reader at its edges (mutation audit round 6): RGBA masks get the
colours hint, a PNG whose header reads but whose pixels do not is one ImageFileError line (one
cut short says so), and the header check defaults to indexed PNGs as the reader does."""

import re

import numpy as np
import pytest
from PIL import Image

from samhq_train.image_header import ImageFileError
from samhq_train.mask_png import mask_png_header, read_mask_png


def test_rgba_is_colours_not_ids(tmp_path):
    path = tmp_path / "rgba.png"
    Image.new("RGBA", (4, 3)).save(path)
    with pytest.raises(ImageFileError, match=r"rgba.png: a mode RGBA image \(colours, not ids\), "
                       "not indexed$"):
        mask_png_header(path)


def _indexed(path):
    Image.fromarray((np.arange(64 * 64) % 7).reshape(64, 64).astype(np.uint8), mode="P").save(path)
    return path.read_bytes()


@pytest.mark.parametrize("keep", [40, -60], ids=["in-the-header", "in-the-pixels"])
def test_a_png_cut_short_says_so_as_the_image_reader_does(tmp_path, keep):
    """Not PIL's "Truncated File Read" / "image file is truncated": what happened and what to do
    (imaging.check_complete's refusal; an annotation is copied again, not removed)."""
    path = tmp_path / "cut.png"
    path.write_bytes(_indexed(path)[:keep])
    cut = (rf"^cannot read annotation file {re.escape(str(path))}: cut.png is truncated \(PNG "
           r"end chunk missing\); copy or export it again$")
    if keep > 0:
        with pytest.raises(ImageFileError, match=cut):
            mask_png_header(path)
    else:
        assert mask_png_header(path) == (64, 64)
    with pytest.raises(ImageFileError, match=cut):
        read_mask_png(path)


def test_a_damaged_png_with_its_end_reads_its_header_but_not_its_pixels(tmp_path):
    path = tmp_path / "bad.png"
    data = bytearray(_indexed(path))
    start = data.index(b"IDAT") + 8  # inside the compressed pixels
    data[start:start + 16] = bytes(16)
    path.write_bytes(bytes(data))
    assert mask_png_header(path) == (64, 64)
    with pytest.raises(ImageFileError, match=r"^.*bad.png: cannot be decoded \("):
        read_mask_png(path)


def test_the_header_check_is_for_indexed_pngs_unless_told(tmp_path):
    path = tmp_path / "gray.png"
    Image.new("L", (5, 2)).save(path)
    with pytest.raises(ImageFileError, match="gray.png: a mode L image, not indexed$"):
        mask_png_header(path)
    assert mask_png_header(path, ("P", "L")) == (5, 2)
