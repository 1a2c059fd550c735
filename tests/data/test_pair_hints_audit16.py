"""The hints of a folder pair's refusal (data/pair_hints.py, audit 16): the EXIF hint only for
the orientations that turn a picture (5-8) and a mask of the turned size, none when the header
cannot be read; the mask_suffix hint only when every mask without an image is an image's stem
plus one and the same suffix."""

from pathlib import Path

import pytest
from PIL import Image

from samhq_train import image_header
from samhq_train.data.pair_hints import exif_turn_hint, mask_suffix_hint


def photo(path: Path, orientation: int) -> Path:
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.new("RGB", (8, 6)).save(path, exif=exif)  # 8 wide, 6 high
    return path


@pytest.mark.parametrize("orientation", range(1, 9))
def test_the_exif_hint_names_only_the_turning_orientations(tmp_path, orientation):
    image = photo(tmp_path / "a.jpg", orientation)
    hint = exif_turn_hint((8, 6), (6, 8), image)  # the mask 6 wide, 8 high: turned
    if orientation in (5, 6, 7, 8):
        assert hint.startswith(f"; a.jpg has EXIF orientation {orientation} (viewers show it "
                               "turned, 6x8)"), hint
    else:
        assert hint == ""
    assert exif_turn_hint((5, 7), (6, 8), image) == ""  # another size: no turn explains it


def test_no_exif_hint_when_the_header_cannot_be_read(tmp_path, monkeypatch):
    def unreadable(path, *args, **kwargs):
        raise image_header.ImageFileError(f"{path}: unreadable")

    monkeypatch.setattr(image_header, "read_header", unreadable)
    assert exif_turn_hint((8, 6), (6, 8), tmp_path / "a.jpg") == ""


def test_the_mask_suffix_hint(tmp_path):
    images = {stem: tmp_path / f"{stem}.jpg" for stem in ("a", "b", "a_x")}
    masks = [tmp_path / name for name in ("a_mask.png", "b_mask.png", "a_x_mask.png")]
    hint = mask_suffix_hint(masks, images, ".png")
    assert hint.startswith("; they look like <stem>_mask.png: set this set's mask_suffix to "
                           "_mask (data=folder: data.train_sets.0.mask_suffix=_mask "
                           "data.val_sets.0.mask_suffix=_mask)"), hint
    assert mask_suffix_hint(masks + [tmp_path / "c_mask.png"], images, ".png") == ""  # no c
    assert mask_suffix_hint([masks[0], tmp_path / "b_gt.png"], images, ".png") == ""  # two
    two = {stem: images[stem] for stem in ("a", "b")}
    assert mask_suffix_hint([tmp_path / "a_mask_gt.png"], two, "_gt.png").startswith(
        "; they look like <stem>_mask_gt.png: set this set's mask_suffix to _mask ")
