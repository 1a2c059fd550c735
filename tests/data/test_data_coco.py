"""COCO instance sets: the folder set's sample from the same mask, who each sample is without
reading it, polygons, RLE, crowd, area and category filters; bad json and bad annotations
refused before the run."""

import json
import logging
import re

import cv2
import numpy as np
import pytest
import torch
from data_helpers import blob, coco_json, write_pair
from pycocotools import mask as mask_utils
from torch.utils.data import ConcatDataset

from samhq_train.data import CocoInstanceDataset, DataError, PairedFolderDataset, sample_key
from samhq_train.data.datamodule import SegmentationDataModule


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
    with pytest.raises(DataError, match=rf"^{re.escape(where)}: a segmentation polygon must be"):
        check()
    coco_json(tmp_path / "a.json", "i.jpg", 40, 64, anns[:1])
    with pytest.raises(DataError, match=r"the json says 64x40 but the image is 64x48 \(WxH\)"):
        check()


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


def test_a_malformed_segmentation_is_a_bad_sample_naming_its_annotation(tmp_path):
    """What pycocotools decodes into a wrong mask without a word (a polygon with an odd count of
    numbers: read one point short; an RLE of another size than its image: a mask that does not fit
    it) is that sample's DataError naming the annotation and the key, as the concept reader says
    it (training skips it with the other bad files, a strict set refuses it)."""
    cv2.imwrite(str(tmp_path / "i.jpg"), blob(48, 64)[0])
    disc = np.zeros((48, 65), np.uint8)
    cv2.circle(disc, (30, 24), 8, 255, -1)
    anns = [{"segmentation": [[10, 10, 40, 10, 40, 30, 10, 30]]},
            {"segmentation": [[10, 10, 40, 10, 40, 30, 10]]},
            {"segmentation": rle_of(disc)},
            {"segmentation": [[10, 10, 40, 30]]}]
    path = coco_json(tmp_path / "a.json", "i.jpg", 48, 64, anns)
    ds = CocoInstanceDataset(tmp_path, path)
    assert int((ds[0]["mask"] > 0).sum()) == 600
    expected = {2: "a segmentation polygon must be a list of (x, y) number pairs",
                3: "an RLE whose 'size' is the image's [48, 64], got [48, 65]",
                4: "the first segmentation polygon must have at least 3 (x, y) points"}
    for index, text in zip((1, 2, 3), expected.values()):
        for read in (ds.checked_files, ds.__getitem__):
            with pytest.raises(DataError) as err:
                read(index)
            where = f"{path} (annotation {index + 1}, image {tmp_path / 'i.jpg'}): "
            assert str(err.value).startswith(where) and text in str(err.value)
            assert "\n" not in str(err.value)


def test_two_annotations_with_one_id_are_refused_not_one_dropped(tmp_path):
    """pycocotools indexes annotations by id: of two with one id (two exports merged) it keeps the
    last. The set refuses the json in one line naming both entries instead."""
    cv2.imwrite(str(tmp_path / "i.jpg"), blob(48, 64)[0])
    square = [[10, 10, 40, 10, 40, 30, 10, 30]]
    anns = [{"segmentation": square, "id": 5}, {"segmentation": square, "id": 6},
            {"segmentation": square, "id": 5}]
    path = coco_json(tmp_path / "a.json", "i.jpg", 48, 64, anns)
    with pytest.raises(DataError) as err:
        CocoInstanceDataset(tmp_path, path)
    assert str(err.value) == (f"{path}: annotations[0] and annotations[2] both have the id 5 (one "
                              "would be dropped); give each annotation its own id")


def test_annotations_left_out_are_counted_and_a_box_only_json_is_told_so(tmp_path, caplog):
    """The annotations that are not samples are counted by why (a log line); a json none of whose
    annotations has a segmentation (a detection export) is refused saying so, not with advice on
    min_area; an area that is not a number is one line naming the annotation."""
    cv2.imwrite(str(tmp_path / "i.jpg"), blob(48, 64)[0])
    square = [[10, 10, 40, 10, 40, 30, 10, 30]]
    anns = [{"segmentation": square, "area": 600.0}, {"segmentation": [], "area": 600.0},
            {"segmentation": square, "area": 600.0, "iscrowd": 1},
            {"segmentation": square, "area": 5.0}, {"bbox": [1, 2, 3, 4], "area": 12.0}]
    path = coco_json(tmp_path / "a.json", "i.jpg", 48, 64, anns)
    with caplog.at_level(logging.INFO, logger="samhq_train.data.coco_instances"):
        assert CocoInstanceDataset(tmp_path, path, name="c", min_area=10).annotations == [1]
    assert ("c: 4 of 5 annotations of a.json left out: 2 without a segmentation, 1 crowd, 1 "
            "under min_area=10") in caplog.text
    coco_json(tmp_path / "a.json", "i.jpg", 48, 64, [{"bbox": [1, 2, 3, 4], "area": 12.0}])
    with pytest.raises(DataError) as err:
        CocoInstanceDataset(tmp_path, path, name="c", min_area=10)
    assert str(err.value) == (
        f"c: no usable instance in {path} (of its 1 annotations: 1 without a segmentation); "
        "data=coco trains on segmentations (polygons or RLE); a detection export (boxes only) "
        "has none")
    coco_json(tmp_path / "a.json", "i.jpg", 48, 64, [{"segmentation": square, "area": "600"}])
    with pytest.raises(DataError, match=r"a.json: annotation 1: 'area' must be a number of "
                                        r"pixels, got 600; fix the json$"):
        CocoInstanceDataset(tmp_path, path, name="c", min_area=10)


def test_an_image_entry_without_its_size_is_said_so(tmp_path):
    """pycocotools draws polygons on the json's width x height: an entry without them is the
    sample's one line saying which keys to add, with the file's size ("None x None" before)."""
    cv2.imwrite(str(tmp_path / "i.jpg"), blob(48, 64)[0])
    path = coco_json(tmp_path / "a.json", "i.jpg", 48, 64,
                     [{"segmentation": [[10, 10, 40, 10, 40, 30, 10, 30]]}])
    data = json.loads(path.read_text())
    del data["images"][0]["width"], data["images"][0]["height"]
    path.write_text(json.dumps(data))
    ds = CocoInstanceDataset(tmp_path, path)
    for read in (ds.checked_files, ds.__getitem__):
        with pytest.raises(DataError) as err:
            read(0)
        assert str(err.value) == (
            f"{path} (annotation 1, image {tmp_path / 'i.jpg'}): its image's entry in 'images' "
            "has no 'width' and 'height'; add them (64 and 48 for this file)")


@pytest.mark.parametrize("edit,says", [
    (lambda d: d["images"][0].pop("file_name"), "images[0] (id 1) has 'file_name': None; give "
     "the path of its file in the image folder"),
    (lambda d: d["images"][0].update(file_name=5), "images[0] (id 1) has 'file_name': 5"),
    (lambda d: d.update(annotations={}), "'annotations' is missing or not a list of objects"),
    (lambda d: d.pop("images"), "'images' is missing or not a list of objects"),
    (lambda d: d["annotations"][0].update(iscrowd="0"), "annotation 1: 'iscrowd' must be 0 or 1, "
     "got '0'; fix the json"),
], ids=["no file_name", "file_name a number", "annotations an object", "no images",
        "iscrowd a string"])
def test_entries_pycocotools_takes_as_they_come_are_one_line(tmp_path, edit, says):
    """What pycocotools indexes without a word: an image without a file name (a KeyError /
    TypeError traceback when the set listed its files), a key that is no list (read as no
    annotation, or annotations of no image), an iscrowd of "0" (true: left out as a crowd)."""
    cv2.imwrite(str(tmp_path / "i.jpg"), blob(48, 64)[0])
    path = coco_json(tmp_path / "a.json", "i.jpg", 48, 64,
                     [{"segmentation": [[10, 10, 40, 10, 40, 30, 10, 30]]}])
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    with pytest.raises(DataError) as err:
        CocoInstanceDataset(tmp_path, path)
    assert str(err.value).startswith(f"{path}: ") and says in str(err.value)
