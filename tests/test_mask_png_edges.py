"""imaging's annotation-PNG reader at its edges (mutation audit round 6): RGBA masks get the
colours hint, a PNG whose header reads but whose pixels do not is one ImageFileError line, and
the header check defaults to indexed PNGs as the reader does."""

import numpy as np
import pytest
from PIL import Image

from samhq_train.imaging import ImageFileError
from samhq_train.mask_png import mask_png_header, read_mask_png


def test_rgba_is_colours_not_ids(tmp_path):
    path = tmp_path / "rgba.png"
    Image.new("RGBA", (4, 3)).save(path)
    with pytest.raises(ImageFileError, match=r"rgba.png: a mode RGBA image \(colours, not ids\), "
                       "not indexed$"):
        mask_png_header(path)


def test_a_truncated_png_reads_its_header_but_not_its_pixels(tmp_path):
    path = tmp_path / "cut.png"
    Image.fromarray((np.arange(64 * 64) % 7).reshape(64, 64).astype(np.uint8), mode="P").save(path)
    path.write_bytes(path.read_bytes()[:-60])
    assert mask_png_header(path) == (64, 64)
    with pytest.raises(ImageFileError, match=r"^.*cut.png: cannot be decoded \("):
        read_mask_png(path)


def test_the_header_check_is_for_indexed_pngs_unless_told(tmp_path):
    path = tmp_path / "gray.png"
    Image.new("L", (5, 2)).save(path)
    with pytest.raises(ImageFileError, match="gray.png: a mode L image, not indexed$"):
        mask_png_header(path)
    assert mask_png_header(path, ("P", "L")) == (5, 2)
