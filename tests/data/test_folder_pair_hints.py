"""What a refusal of a folder pair says beyond the rule: a phone photo stored landscape with EXIF
orientation 6 and its mask drawn on the upright picture (images are read as stored); masks saved
as <stem>_mask.png where the set expects <stem>.png."""

import numpy as np
import pytest
from PIL import Image

from samhq_train.data.datasets import PairedFolderDataset
from samhq_train.data.image_files import DataError


def _pair(root, orientation):
    (root / "images").mkdir()
    (root / "masks").mkdir()
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.new("RGB", (8, 6)).save(root / "images" / "a.jpg", exif=exif)
    Image.fromarray(np.full((8, 6), 255, np.uint8)).save(root / "masks" / "a.png")  # 6 x 8 (WxH)
    return PairedFolderDataset(root / "images", root / "masks")


def test_a_mask_of_the_turned_size_names_the_exif_orientation(tmp_path):
    with pytest.raises(DataError) as err:
        _pair(tmp_path, 6).checked_files(0)
    assert str(err.value).endswith(
        "a.png is 6x8 but its image a.jpg is 8x6 (WxH); a mask must have its image's size; "
        "a.jpg has EXIF orientation 6 (viewers show it turned, 6x8) but images are read as "
        "stored: save it upright (e.g. PIL's ImageOps.exif_transpose)"
    ), str(err.value)


def test_without_the_flag_the_message_is_the_plain_one(tmp_path):
    with pytest.raises(DataError) as err:
        _pair(tmp_path, 1).checked_files(0)
    assert str(err.value).endswith("a mask must have its image's size"), str(err.value)


def test_masks_named_with_a_suffix_name_the_mask_suffix_setting(tmp_path):
    """Masks saved as <stem>_mask.png where the set expects <stem>.png."""
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    for stem in ("a", "b"):
        Image.new("RGB", (8, 6)).save(tmp_path / "images" / f"{stem}.jpg")
        Image.new("L", (8, 6)).save(tmp_path / "masks" / f"{stem}_mask.png")
    for strict in (True, False):
        with pytest.raises(DataError) as err:
            PairedFolderDataset(tmp_path / "images", tmp_path / "masks", name="t", strict=strict)
        hint = (
            "; they look like <stem>_mask.png: set this set's mask_suffix to _mask (data=folder: "
            "data.train_sets.0.mask_suffix=_mask data.val_sets.0.mask_suffix=_mask)"
        )
        assert hint in str(err.value), str(err.value)
