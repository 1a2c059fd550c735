import json
import logging
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from data_helpers import blob, write_pair
from hydra import compose, initialize_config_dir
from pycocotools import mask as mask_utils
from torch.utils.data import ConcatDataset

from samhq_train.config_defaults import CONFIG_DIR
from samhq_train.data import (
    CocoInstanceDataset,
    DataError,
    PairedFolderDataset,
    build_source,
    read_image,
    read_mask,
    sample_key,
)
from samhq_train.data.datamodule import SegmentationDataModule, build_datamodule

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


# ---------------------------------------------------------------- COCO


def coco_json(path: Path, image_name: str, h: int, w: int, anns: list[dict]) -> Path:
    for i, a in enumerate(anns, start=1):
        a.setdefault("id", i)
        a.setdefault("image_id", 1)
        a.setdefault("category_id", 1)
        a.setdefault("iscrowd", 0)
    data = {
        "images": [{"id": 1, "file_name": image_name, "height": h, "width": w}],
        "annotations": anns,
        "categories": [{"id": 1, "name": "thing"}],
    }
    path.write_text(json.dumps(data))
    return path


def rle_of(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray((mask > 128).astype(np.uint8)))
    return {"size": rle["size"], "counts": rle["counts"].decode()}


def test_folder_and_coco_give_the_same_sample(tmp_path):
    image, mask = blob(seed=3)
    write_pair(tmp_path / "im", tmp_path / "gt", "img", image, mask, image_ext=".png")
    ann = coco_json(
        tmp_path / "ann.json",
        "img.png",
        *mask.shape,
        [{"segmentation": rle_of(mask), "area": float((mask > 0).sum())}],
    )
    folder = PairedFolderDataset(tmp_path / "im", tmp_path / "gt", name="same")
    coco = CocoInstanceDataset(tmp_path / "im", ann, name="same")
    a, b = folder[0], coco[0]
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_array_equal(a["mask"], b["mask"])
    assert b["name"] == "img_1"
    # and through the whole evaluation pipeline
    batches = []
    for spec in (
        {"name": "same", "image_dir": "im", "mask_dir": "gt"},
        {"name": "same", "type": "coco", "image_dir": "im", "annotation_file": "ann.json"},
    ):
        dm = SegmentationDataModule(32, val_sets=[spec], root=str(tmp_path), val_batch_size=1)
        dm.setup("validate")
        batches.append(next(iter(dm.val_dataloader()[0])))
    for key in ("image", "mask", "boxes", "points", "mask_input"):
        assert torch.equal(batches[0][key], batches[1][key]), key


def test_sources_say_who_their_samples_are_without_reading_them(tmp_path):
    """sample_key(i): the item's dataset and name, its files (and COCO's annotation record), also
    through nested ConcatDatasets; None for a source that does not say."""
    for k in range(2):
        write_pair(tmp_path / "im", tmp_path / "gt", f"img{k}", *blob(seed=k), image_ext=".png")
    _, mask = blob(seed=0)
    ann = coco_json(
        tmp_path / "ann.json", "img1.png", *mask.shape, [{"segmentation": rle_of(mask), "id": 7}]
    )
    folder = PairedFolderDataset(tmp_path / "im", tmp_path / "gt", name="f")
    coco = CocoInstanceDataset(tmp_path / "im", ann, name="c")
    key = folder.sample_key(1)
    assert (key.dataset, key.name, key.annotation) == ("f", "img1", None)
    assert key.files == (tmp_path / "im" / "img1.png", tmp_path / "gt" / "img1.png")
    key = coco.sample_key(0)
    assert (key.dataset, key.name, key.files) == ("c", "img1_7", (tmp_path / "im" / "img1.png",))
    assert key.annotation == coco.coco.anns[7]
    nested = ConcatDataset([folder, ConcatDataset([coco, folder])])
    parts = [(folder, 0), (folder, 1), (coco, 0), (folder, 0), (folder, 1)]
    for i, (source, j) in enumerate(parts):
        key, item = source.sample_key(j), source[j]
        assert sample_key(nested, i) == key
        assert (item["dataset"], item["name"]) == (key.dataset, key.name)
    assert sample_key([folder[0]], 0) is None


def test_coco_polygons_rle_crowd_and_area_filters(tmp_path):
    image, _ = blob()
    cv2.imwrite(str(tmp_path / "i.jpg"), image)
    square = [[10, 10, 30, 10, 30, 30, 10, 30]]
    big = np.zeros((48, 64), np.uint8)
    big[5:40, 5:60] = 255
    crowd = mask_utils.encode(np.asfortranarray((big > 0).astype(np.uint8)))
    crowd = {"size": crowd["size"], "counts": crowd["counts"].decode()}
    anns = [
        {"segmentation": square, "area": 400.0},
        {"segmentation": rle_of(big), "area": float((big > 0).sum())},
        {"segmentation": crowd, "area": 1925.0, "iscrowd": 1},
        {"segmentation": [[1, 1, 3, 1, 3, 3]], "area": 2.0},
    ]
    path = coco_json(tmp_path / "a.json", "i.jpg", 48, 64, anns)
    ds = CocoInstanceDataset(tmp_path, path, min_area=10)
    assert ds.annotations == [1, 2]
    poly = ds[0]["mask"]
    assert poly.dtype == np.uint8 and set(np.unique(poly)) == {0, 255}
    assert abs(int((poly > 0).sum()) - 400) <= 45  # rasterised 20 x 20 square
    np.testing.assert_array_equal(ds[1]["mask"], big)
    assert len(CocoInstanceDataset(tmp_path, path, min_area=0, include_crowd=True)) == 4


def test_coco_bad_input(tmp_path):
    with pytest.raises(DataError, match="annotation file not found"):
        CocoInstanceDataset(tmp_path, tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(DataError, match="bad.json is not valid json"):
        CocoInstanceDataset(tmp_path, tmp_path / "bad.json")
    path = coco_json(
        tmp_path / "a.json",
        "missing.jpg",
        8,
        8,
        [{"segmentation": [[1, 1, 5, 1, 5, 5]], "area": 8}],
    )
    with pytest.raises(DataError, match=r"1 image\(s\) listed in a.json are missing .*missing.jpg"):
        CocoInstanceDataset(tmp_path, path)


def test_a_coco_set_is_checked_before_the_run_as_a_folder_set(tmp_path, caplog):
    """Before the first batch: the json's size against the image header, and the segmentation of
    each annotation (its RLE's area, no mask decoded): empty or malformed is refused in one line
    naming the annotation and the image, with the key that skips it; training skips empty ones."""
    from samhq_train.data.sets import check_set_files

    cv2.imwrite(str(tmp_path / "i.jpg"), blob(48, 64)[0])
    square = [[5, 10, 15, 10, 15, 20, 5, 20]]
    outside = [[200, 200, 210, 200, 210, 210, 200, 210]]  # beyond the 64 x 48 image: no pixel
    anns = [{"segmentation": s, "area": 100.0} for s in (square, outside, outside)]
    spec = {"type": "coco", "name": "c", "image_dir": ".", "annotation_file": "a.json"}

    def check(what="validation", **kwargs):
        dm = SegmentationDataModule(32, train_sets=[spec], val_sets=[spec], root=str(tmp_path),
                                    **kwargs)
        dm.setup("fit")
        names, sets = (["train"], [dm.train_set]) if what == "training" else (dm.val_names,
                                                                            dm.val_sets)
        return check_set_files(names, sets, what=what)

    coco_json(tmp_path / "a.json", "i.jpg", 48, 64, anns)
    where = f"{tmp_path / 'a.json'} (annotation 2, image {tmp_path / 'i.jpg'})"
    with pytest.raises(DataError) as info:
        check()
    assert str(info.value) == (
        f"{where}: empty segmentation (no pixel of it inside the 64x48 image); fix or remove the "
        "annotation (and 1 more in validation set c); or set data.strict_eval=false to skip bad "
        "files"
    )
    assert check("training").samples == 3  # training skips empty masks
    with caplog.at_level(logging.WARNING):
        assert check(strict_eval=False).unusable == []
    assert "validation set c: 2 of 3 samples are unusable and skipped; first: " in caplog.text
    anns = [{"segmentation": square, "area": 100.0}, {"segmentation": [[1, 2, 3]], "area": 1.0}]
    coco_json(tmp_path / "a.json", "i.jpg", 48, 64, anns)
    with pytest.raises(DataError, match=rf"^{re.escape(where)}: unreadable segmentation \("):
        check()
    coco_json(tmp_path / "a.json", "i.jpg", 40, 64, anns[:1])
    with pytest.raises(DataError, match=r"the json says 64x40 but the image is 64x48 \(WxH\)"):
        check()


# ---------------------------------------------------------------- bad input


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


def test_unreadable_and_truncated_images(tmp_path):
    (tmp_path / "junk.jpg").write_bytes(b"this is not an image")
    with pytest.raises(DataError, match=r"junk.jpg is not a readable image"):
        read_image(tmp_path / "junk.jpg")
    image, _ = blob()
    ok, data = cv2.imencode(".jpg", image)
    (tmp_path / "cut.jpg").write_bytes(data.tobytes()[: len(data) // 2])
    with pytest.raises(DataError, match=r"cut.jpg is truncated"):
        read_image(tmp_path / "cut.jpg")
    (tmp_path / "zero.png").write_bytes(b"")
    with pytest.raises(DataError, match=r"zero.png is empty"):
        read_mask(tmp_path / "zero.png")


def test_bad_masks(tmp_path):
    image, mask = blob()
    colour = np.dstack([mask, mask // 2, mask])
    cv2.imwrite(str(tmp_path / "colour.png"), colour)
    with pytest.raises(
        DataError, match=r"colour.png has 3 channels with different values.*grayscale"
    ):
        read_mask(tmp_path / "colour.png")
    cv2.imwrite(str(tmp_path / "grey3.png"), np.dstack([mask] * 3))
    np.testing.assert_array_equal(read_mask(tmp_path / "grey3.png"), mask)  # equal channels: fine
    cv2.imwrite(str(tmp_path / "binary.png"), (mask > 0).astype(np.uint8))
    with pytest.raises(DataError, match=r"binary.png has values 0-1.*multiplied by 255"):
        read_mask(tmp_path / "binary.png")
    cv2.imwrite(str(tmp_path / "deep.png"), mask.astype(np.uint16) * 257)
    with pytest.raises(DataError, match=r"deep.png is a uint16 mask.*8-bit"):
        read_mask(tmp_path / "deep.png")
    write_pair(tmp_path / "im", tmp_path / "gt", "size", image, mask[:40])
    with pytest.raises(DataError, match=r"size.png is 64x40 but its image size.jpg is 64x48"):
        PairedFolderDataset(tmp_path / "im", tmp_path / "gt")[0]


def bad_set(tmp_path: Path) -> Path:
    """Three good pairs, one empty mask (e_empty) and one unreadable image (z_broken)."""
    for i in range(3):
        write_pair(tmp_path / "im", tmp_path / "gt", f"good{i}", *blob(seed=i))
    image, mask = blob()
    write_pair(tmp_path / "im", tmp_path / "gt", "e_empty", image, mask * 0)
    write_pair(tmp_path / "im", tmp_path / "gt", "z_broken", image, mask)
    (tmp_path / "im" / "z_broken.jpg").write_bytes(b"garbage")
    return tmp_path


def test_empty_mask_is_a_logged_skip_in_training(tmp_path, caplog):
    root = bad_set(tmp_path)
    (root / "im" / "z_broken.jpg").unlink()
    (root / "gt" / "z_broken.png").unlink()
    dm = SegmentationDataModule(
        32, train_sets=[{"image_dir": "im", "mask_dir": "gt"}], root=str(root), batch_size=4
    )
    dm.setup("fit")
    with caplog.at_level(logging.WARNING):
        batch = next(iter(dm.train_dataloader()))
    assert "e_empty" not in batch["name"] and len(batch["name"]) == 4
    assert "e_empty.png: empty mask" in caplog.text


def test_strict_eval_raises_in_the_main_process_naming_the_file(tmp_path):
    root = bad_set(tmp_path)
    dm = SegmentationDataModule(
        32,
        val_sets=[{"name": "v", "image_dir": "im", "mask_dir": "gt"}],
        root=str(root),
        val_batch_size=5,
        num_workers=1,
    )
    dm.setup("validate")
    with pytest.raises(DataError) as err:
        next(iter(dm.val_dataloader()[0]))
    text = str(err.value)
    assert "e_empty.png: empty mask" in text and "(and 1 more in this batch); or set " in text
    assert "\n" not in text and "worker" not in text  # one line: the first file, the count


def test_lenient_eval_drops_bad_samples_with_a_log(tmp_path, caplog):
    root = bad_set(tmp_path)
    dm = SegmentationDataModule(
        32,
        val_sets=[{"image_dir": "im", "mask_dir": "gt"}],
        root=str(root),
        val_batch_size=5,
        strict_eval=False,
    )
    dm.setup("validate")
    with caplog.at_level(logging.WARNING):
        batches = list(dm.val_dataloader()[0])
    assert [b["name"] for b in batches] == [["good0", "good1", "good2"]]
    assert "e_empty.png" in caplog.text and "z_broken.jpg" in caplog.text


def test_lenient_training_skips_unreadable_files(tmp_path, caplog):
    root = bad_set(tmp_path)
    dm = SegmentationDataModule(
        32,
        train_sets=[{"image_dir": "im", "mask_dir": "gt"}],
        root=str(root),
        batch_size=5,
        strict_train=False,
    )
    dm.setup("fit")
    with caplog.at_level(logging.WARNING):
        batch = next(iter(dm.train_dataloader()))
    assert len(batch["name"]) == 5 and set(batch["name"]) <= {"good0", "good1", "good2"}
    dm = SegmentationDataModule(
        32,
        train_sets=[{"image_dir": "im", "mask_dir": "gt"}],
        root=str(root),
        batch_size=5,
        strict_train=True,
    )
    dm.setup("fit")
    with pytest.raises(DataError, match="z_broken.jpg is not a readable image"):
        next(iter(dm.train_dataloader()))


def test_coco_min_area_is_inclusive_and_category_ids_keep_only_those(tmp_path):
    """Dropped are instances with area < min_area (one of exactly min_area stays); category_ids
    keeps the instances of those categories only."""
    image, _ = blob()
    cv2.imwrite(str(tmp_path / "i.jpg"), image)
    anns = [
        {"segmentation": [[10, 10, 30, 10, 30, 30, 10, 30]], "area": 400.0, "category_id": 1},
        {"segmentation": [[5, 5, 20, 5, 20, 20]], "area": 112.5, "category_id": 2},
        {"segmentation": [[30, 30, 40, 30, 40, 40]], "area": 50.0, "category_id": 2},
    ]
    path = coco_json(tmp_path / "a.json", "i.jpg", 48, 64, anns)
    assert CocoInstanceDataset(tmp_path, path, min_area=112.5).annotations == [1, 2]
    assert CocoInstanceDataset(tmp_path, path, min_area=112.6).annotations == [1]
    assert CocoInstanceDataset(tmp_path, path, category_ids=[2]).annotations == [2, 3]
    assert CocoInstanceDataset(tmp_path, path, category_ids=[1, 3]).annotations == [1]


def test_a_grey_mask_with_an_alpha_channel_reads_its_grey_values(tmp_path):
    """An RGBA mask: its equal colour channels are the mask, the alpha is ignored
    (even a partly transparent one)."""
    _, mask = blob()
    alpha = np.full_like(mask, 255)
    alpha[:10] = 0
    cv2.imwrite(str(tmp_path / "rgba.png"), np.dstack([mask, mask, mask, alpha]))
    np.testing.assert_array_equal(read_mask(tmp_path / "rgba.png"), mask)
    cv2.imwrite(str(tmp_path / "colour_alpha.png"), np.dstack([mask, mask // 2, mask, alpha]))
    with pytest.raises(DataError, match="4 channels with different values"):
        read_mask(tmp_path / "colour_alpha.png")
