"""A mask whose image has a suffix the set's image_ext does not take (x.tif beside x.png, with
image_ext [.jpg, .jpeg, .png]) is reported with that image and the setting to change, not only
as "mask(s) without an image"."""

from pathlib import Path

import numpy as np
import pytest
from omegaconf import OmegaConf
from PIL import Image

import samhq_train
from samhq_train import imaging
from samhq_train.data import DataError, PairedFolderDataset
from samhq_train.data.datasets import build_source
from samhq_train.data.pair_hints import mask_suffix_hint

NARROW = (".jpg", ".jpeg", ".png")


def folder(tmp_path, images: list[str], masks: list[str]):
    for sub, names in (("im", images), ("gt", masks)):
        (tmp_path / sub).mkdir()
        for name in names:
            Image.fromarray(np.full((4, 6), 255, np.uint8)).save(tmp_path / sub / name)
    return tmp_path / "im", tmp_path / "gt"


def test_a_set_names_the_images_its_image_ext_does_not_take(tmp_path):
    im, gt = folder(tmp_path, ["a.jpg", "b.tif", "c.TIF"], ["a.png", "b.png", "c.png"])
    with pytest.raises(DataError) as info:
        PairedFolderDataset(im, gt, name="mine", image_ext=NARROW)
    assert str(info.value).startswith(
        f"mine: 2 mask(s) without an image in {im}: b.png, c.png; their images have a suffix "
        "this set's image_ext does not take (b.tif, c.TIF): add .tif to it (data=folder: "
        "data.train_sets.0.image_ext"), str(info.value)


def test_the_hint_gives_the_whole_setting_when_it_knows_the_list(tmp_path):
    im, gt = folder(tmp_path, ["a.jpg", "b.webp", "c.bmp"], ["a.png", "b.png", "c.png"])
    images = {"a": im / "a.jpg"}
    hint = mask_suffix_hint([gt / "b.png", gt / "c.png"], images, ".png", image_ext=NARROW)
    assert hint == (
        "; their images have a suffix this set's image_ext does not take (b.webp, c.bmp): add "
        ".bmp, .webp to it (data=folder: data.train_sets.0.image_ext=[.bmp,.jpeg,.jpg,.png,.webp]"
        " data.val_sets.0.image_ext=[.bmp,.jpeg,.jpg,.png,.webp])")


def test_masks_in_the_image_folder_and_files_of_other_stems_are_not_taken_for_images(tmp_path):
    both = tmp_path / "both"
    both.mkdir()
    for name in ("a.jpg", "a.png", "b.png", "b_gt.png", "bb.tif"):
        Image.new("L", (6, 4)).save(both / name)
    assert mask_suffix_hint([both / "b.png"], {"a": both / "a.jpg"}, ".png") == ""


def test_data_folder_takes_every_suffix_a_folder_of_images_is_listed_by(tmp_path):
    """data=folder's sets list the images as samhq-predict / samhq-amg list a folder's
    (imaging.IMAGE_SUFFIXES): a .tif / .bmp / .webp image is paired, not an orphan mask."""
    config = OmegaConf.load(Path(samhq_train.__file__).parent / "conf/data/folder.yaml")
    names = [f"x{suffix[1:]}{suffix}" for suffix in imaging.IMAGE_SUFFIXES]
    folder(tmp_path, names, [f"x{suffix[1:]}.png" for suffix in imaging.IMAGE_SUFFIXES])
    for spec in (config.train_sets[0], config.val_sets[0]):
        assert tuple(spec.image_ext) == imaging.IMAGE_SUFFIXES
        spec = {**OmegaConf.to_container(spec), "image_dir": "im", "mask_dir": "gt"}
        stems = [stem for stem, _, _ in build_source(spec, tmp_path).pairs]
        assert stems == sorted(f"x{suffix[1:]}" for suffix in imaging.IMAGE_SUFFIXES)
