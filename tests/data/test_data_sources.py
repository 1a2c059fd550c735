"""Folder sets and the set registry: pairs matched by stem, one folder for both, the hqseg44k
layout, every data config composes; unmatched files, missing folders and set lists that are not
one refused by name."""

import logging

import numpy as np
import pytest
from data_helpers import blob, write_pair
from hydra import compose, initialize_config_dir

from samhq_train.config_defaults import CONFIG_DIR
from samhq_train.data import DataError, PairedFolderDataset, build_source
from samhq_train.data.datamodule import build_datamodule

CONF = CONFIG_DIR  # importing it registers the records' defaults the configs name


def compose_data(name: str, *overrides: str):
    with initialize_config_dir(str(CONF), version_base="1.3"):
        return compose(overrides=[f"+data={name}", *overrides]).data


# ---------------------------------------------------------------- folders and registry


def test_folder_pairs_match_by_stem(tmp_path):
    image, mask = blob()
    for stem in ("b", "a"):
        write_pair(tmp_path / "im", tmp_path / "gt", stem, image, mask)
    write_pair(tmp_path / "im", tmp_path / "gt", "c", image, mask, image_ext=".png")
    ds = PairedFolderDataset(tmp_path / "im", tmp_path / "gt", name="set")
    assert [p[0] for p in ds.pairs] == ["a", "b", "c"]
    item = ds[0]
    assert item["image"].shape == (48, 64, 3) and item["image"].dtype == np.uint8
    np.testing.assert_array_equal(item["mask"], mask)
    assert (item["name"], item["dataset"]) == ("a", "set")


def test_one_folder_for_images_and_masks_and_mask_suffix(tmp_path):
    image, mask = blob()
    write_pair(
        tmp_path / "both", tmp_path / "both", "x", image, mask
    )  # x.jpg + x.png (cascade_psp)
    assert len(PairedFolderDataset(tmp_path / "both", tmp_path / "both", image_ext=".jpg")) == 1
    write_pair(
        tmp_path / "s", tmp_path / "s", "y", image, mask, image_ext=".png", mask_name="y_mask.png"
    )
    ds = PairedFolderDataset(tmp_path / "s", tmp_path / "s", image_ext=".png", mask_suffix="_mask")
    assert [p[0] for p in ds.pairs] == ["y"]


def test_hqseg44k_registry_resolves_on_a_fake_tree(tmp_path):
    cfg = compose_data("hqseg44k", f"data.root={tmp_path}")
    image, mask = blob(16, 16)
    for spec in [*cfg.train_sets, *cfg.val_sets]:
        write_pair(tmp_path / spec.image_dir, tmp_path / spec.mask_dir, spec.name, image, mask)
    dm = build_datamodule(cfg, image_size=32, num_workers=0)
    dm.setup()
    sources = dm.train_set.source.datasets
    assert [s.name for s in sources] == [
        "DIS5K-TR",
        "ThinObject5k-TR",
        "FSS",
        "DUTS-TR",
        "DUTS-TE",
        "ECSSD",
        "MSRA10K",
    ]
    assert sources[0].image_dir == tmp_path / "DIS5K/DIS-TR/im"
    assert sources[2].image_dir == sources[2].mask_dir == tmp_path / "cascade_psp/fss_all"
    assert dm.val_names == ["DIS5K-VD", "COIFT", "HRSOD", "ThinObject5k-TE"]
    assert dm.test_names == dm.val_names
    assert dm.val_sets[2].source.mask_dir == tmp_path / "thin_object_detection/HRSOD/masks_max255"
    assert all(len(ds) == 1 for ds in dm.val_sets) and len(dm.train_set) == 7


def test_all_data_configs_compose(tmp_path):
    for name in ("hqseg44k", "demo", "folder", "coco"):
        cfg = compose_data(name)
        assert cfg.batch_size == 4 and "prompts" not in cfg  # train / eval.yaml: PromptConfig's
        assert cfg.train_transform.scale_range == [0.1, 2.0]
    # folder / coco need a root; the message says so
    dm = build_datamodule(compose_data("folder"), image_size=32)
    with pytest.raises(DataError, match="data.root is not set"):
        dm.setup()


def test_unmatched_files_strict_names_them(tmp_path):
    image, mask = blob()
    write_pair(tmp_path / "im", tmp_path / "gt", "ok", image, mask)
    write_pair(tmp_path / "im", tmp_path / "tmp", "lonely_image", image, mask)
    write_pair(tmp_path / "tmp", tmp_path / "gt", "lonely_mask", image, mask)
    with pytest.raises(DataError) as err:
        PairedFolderDataset(tmp_path / "im", tmp_path / "gt", name="S")
    text = str(err.value)
    assert "1 image(s) without a mask" in text and "lonely_image.jpg" in text
    assert "1 mask(s) without an image" in text and "lonely_mask.png" in text
    assert "strict: false" in text


def test_unmatched_files_lenient_skips_and_logs(tmp_path, caplog):
    image, mask = blob()
    write_pair(tmp_path / "im", tmp_path / "gt", "ok", image, mask)
    write_pair(tmp_path / "im", tmp_path / "tmp", "lonely_image", image, mask)
    with caplog.at_level(logging.WARNING):
        ds = PairedFolderDataset(tmp_path / "im", tmp_path / "gt", strict=False)
    assert len(ds) == 1 and "lonely_image.jpg" in caplog.text and "Skipping" in caplog.text


def test_missing_and_empty_folders(tmp_path):
    with pytest.raises(DataError, match=r"image folder not found: .*nowhere.*data/README.md"):
        PairedFolderDataset(tmp_path / "nowhere", tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no images ending in .* in .*empty"):
        PairedFolderDataset(tmp_path / "empty", tmp_path / "empty")
    with pytest.raises(DataError, match=r"data root not found: .*absent.*data.root="):
        build_datamodule(
            {"root": str(tmp_path / "absent"), "val_sets": [{"image_dir": "a", "mask_dir": "b"}]},
            image_size=32,
        ).setup()
    with pytest.raises(DataError, match="unknown type 'voc'"):
        build_source({"name": "x", "type": "voc", "image_dir": "/a"})
    with pytest.raises(DataError, match="valid keys"):
        build_datamodule({"batchsize": 2}, image_size=32)


@pytest.mark.parametrize("sets", ["abc", ["abc"], [1], {"name": "x"}])
def test_a_set_list_that_is_not_one_names_its_key(sets):
    with pytest.raises(DataError) as info:
        build_datamodule({"val_sets": sets}, image_size=32)
    assert str(info.value) == (
        f"data.val_sets={sets!r}: expected a list of sets, each a mapping such as {{name: "
        "my_set, image_dir: images, mask_dir: masks} (data/README.md)"
    )
    assert build_datamodule({"val_sets": None}, image_size=32).val_specs == []  # null: none
