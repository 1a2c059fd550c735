"""mask_png.read_mask_png / mask_png_header: the one reader of annotation PNGs (samhq-video-eval's
folders and the VOS benchmark's prompts): the stored values exactly as PIL gives them (never the
palette's colours), the palette, and one line naming the file for what is not a mask PNG."""

import numpy as np
import pytest
from PIL import Image

from samhq_train.image_header import ImageFileError
from samhq_train.mask_png import mask_png_header, read_mask_png


def _values(shape=(5, 7)) -> np.ndarray:
    return (np.arange(np.prod(shape)) % 6).reshape(shape).astype(np.uint8)


def test_indexed_values_and_palette_are_pils(tmp_path):
    path = tmp_path / "ids.png"
    image = Image.fromarray(_values(), mode="P")
    image.putpalette([255, 0, 0] * 256)  # colours that are not the ids
    image.save(path)
    mask = read_mask_png(path)
    with Image.open(path) as reference:
        expected, palette = np.array(reference), reference.getpalette()
    assert mask.values.dtype == np.uint8 and (mask.values == expected).all()
    assert (mask.values == _values()).all() and mask.palette == palette
    assert mask_png_header(path) == (7, 5)


@pytest.mark.parametrize("mode", ["L", "1"])
def test_other_modes_only_where_allowed(tmp_path, mode):
    path = tmp_path / "m.png"
    Image.fromarray(_values() > 2 if mode == "1" else _values()).convert(mode).save(path)
    with Image.open(path) as reference:
        expected = np.array(reference)
    assert (read_mask_png(path, modes=("P", mode)).values == expected).all()
    assert read_mask_png(path, modes=(mode,)).palette is None
    with pytest.raises(ImageFileError, match=f"m.png: a mode {mode} image, not indexed$"):
        read_mask_png(path)
    with pytest.raises(ImageFileError, match=f"mode {mode} image, not a mode P / I mask"):
        mask_png_header(path, modes=("P", "I"))


def test_not_a_mask_png_is_one_line_naming_the_file(tmp_path):
    rgb, jpeg, junk = tmp_path / "rgb.png", tmp_path / "j.png", tmp_path / "junk.png"
    Image.new("RGB", (4, 3)).save(rgb)
    Image.new("L", (4, 3)).save(jpeg, format="JPEG")
    junk.write_bytes(b"not an image")
    with pytest.raises(ImageFileError, match=r"rgb.png: a mode RGB image \(colours, not ids\)"):
        read_mask_png(rgb)
    with pytest.raises(ImageFileError, match="j.png: a JPEG file, not a PNG"):
        mask_png_header(jpeg)
    with pytest.raises(ImageFileError, match="junk.png: cannot be read as an image"):
        read_mask_png(junk)
