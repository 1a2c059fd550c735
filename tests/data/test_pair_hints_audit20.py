"""Mutation audit 20: image_ext_hint, term by term. A mask folder that is the image folder by
another path (a link) is not taken for images of another suffix; a folder named like a mask's
stem is no image; the first five files are named, "..." only past five; a set's refusal gives
the whole setting from its image_ext; no masks or no images: no hint (nothing to look for, no
folder to look in). A folder set's default image_ext is imaging.IMAGE_SUFFIXES."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_pair_hints_image_ext import NARROW, folder

from samhq_train.data import DataError, PairedFolderDataset
from samhq_train.data.pair_hints import image_ext_hint, mask_suffix_hint
from samhq_train.imaging import IMAGE_SUFFIXES


def test_masks_reached_through_a_link_to_the_image_folder_are_not_taken_for_images(tmp_path):
    both = tmp_path / "both"
    both.mkdir()
    for name in ("a.jpg", "a.png", "b.png"):  # b.png: a mask without an image
        Image.fromarray(np.full((4, 6), 255, np.uint8)).save(both / name)
    (tmp_path / "masks").symlink_to(both)
    with pytest.raises(DataError) as info:
        PairedFolderDataset(both, tmp_path / "masks", name="mine", image_ext=(".jpg",))
    assert "1 mask(s) without an image" in str(info.value)
    assert "image_ext does not take" not in str(info.value), str(info.value)


def test_a_folder_named_like_a_masks_stem_is_no_image(tmp_path):
    im, gt = folder(tmp_path, ["a.jpg"], ["a.png", "b.png"])
    (im / "b.tif").mkdir()
    assert mask_suffix_hint([gt / "b.png"], {"a": im / "a.jpg"}, ".png", NARROW) == ""


@pytest.mark.parametrize("count, listed", [(5, "b0.tif, b1.tif, b2.tif, b3.tif, b4.tif"),
                                           (6, "b0.tif, b1.tif, b2.tif, b3.tif, b4.tif, ...")])
def test_five_files_are_named_and_more_are_dots(tmp_path, count, listed):
    stems = [f"b{i}" for i in range(count)]
    im, gt = folder(tmp_path, ["a.jpg", *(f"{s}.tif" for s in stems)],
                    ["a.png", *(f"{s}.png" for s in stems)])
    hint = image_ext_hint([gt / f"{s}.png" for s in stems], {"a": im / "a.jpg"}, ".png")
    assert f"does not take ({listed}): add .tif" in hint, hint


def test_no_masks_or_no_images_give_no_hint(tmp_path):
    assert image_ext_hint([], {"a": Path(tmp_path / "a.jpg")}, ".png") == ""
    assert image_ext_hint([tmp_path / "b.png"], {}, ".png") == ""


def test_a_sets_refusal_gives_the_whole_setting_from_its_own_list(tmp_path):
    im, gt = folder(tmp_path, ["a.jpg", "b.tif"], ["a.png", "b.png"])
    with pytest.raises(DataError) as info:
        PairedFolderDataset(im, gt, name="mine", image_ext=NARROW)
    assert "data.train_sets.0.image_ext=[.jpeg,.jpg,.png,.tif] " in str(info.value)


def test_a_folder_sets_default_image_ext_takes_every_suffix_images_are_listed_by(tmp_path):
    names = [f"x{suffix[1:]}" for suffix in IMAGE_SUFFIXES]
    im, gt = folder(tmp_path, [f"{n}{s}" for n, s in zip(names, IMAGE_SUFFIXES)],
                    [f"{n}.png" for n in names])
    assert [stem for stem, _, _ in PairedFolderDataset(im, gt).pairs] == sorted(names)
