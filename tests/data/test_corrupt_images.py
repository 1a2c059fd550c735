"""Images whose header is valid but whose body is cut short: refused in one line naming the file
by the one reader (even where PIL's LOAD_TRUNCATED_IMAGES is switched on), found before the run
by data.check_images=full, and named with the config key that skips them when a strict set's
loader meets them mid-run (no worker traceback)."""

import io
import logging

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile

from samhq_train import image_header, imaging
from samhq_train.data.datamodule import SegmentationDataModule, build_datamodule
from samhq_train.data.image_files import DataError, read_mask
from samhq_train.data.sets import check_set_files
from tests.data.data_helpers import blob, write_pair

SKIP_EVAL = (
    "; or set data.strict_eval=false to skip bad files (data.check_images=full checks every "
    "image before the run starts)"
)


def cut_short(path, keep: float = 0.5) -> None:
    """Keep the first `keep` of the file's bytes (an interrupted copy or download)."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def encoded(ext: str) -> bytes:
    image, _ = blob(96, 128)
    image = cv2.GaussianBlur(image, (0, 0), 2)  # compressible: the cut leaves a header and rows
    return cv2.imencode(ext, image)[1].tobytes()


@pytest.mark.parametrize(("ext", "end"), [(".jpg", "JPEG end marker"), (".png", "PNG end chunk")])
def test_an_image_cut_short_is_refused_even_with_pil_truncated_loading_on(
    tmp_path, monkeypatch, ext, end
):
    path = tmp_path / f"cut{ext}"
    path.write_bytes(encoded(ext)[: len(encoded(ext)) // 2])
    assert image_header.read_header(path).width == 128  # the header is fine
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)  # as some libraries do
    with Image.open(path) as im:  # PIL would now load it, its missing rows made up
        assert np.asarray(im.convert("RGB")).shape == (96, 128, 3)
    with pytest.raises(image_header.ImageFileError) as info:
        imaging.read_image(path)
    assert str(info.value) == (
        f"cannot read image file {path}: cut{ext} is truncated ({end} missing); re-download or "
        "remove it"
    )
    if ext == ".png":
        with pytest.raises(DataError, match=rf"^cannot read mask file {path}: .* truncated"):
            read_mask(path)


def test_pil_truncated_loading_stays_off():
    import samhq_train.inference
    import samhq_train.train  # noqa: F401

    for name in samhq_train.inference.__all__:  # its names load lazily: everything reading images
        getattr(samhq_train.inference, name)

    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    with pytest.raises(OSError, match="truncated"):  # what PIL does with it off
        Image.open(io.BytesIO(encoded(".png")[:-2000])).load()


@pytest.mark.parametrize("ext", [".jpg", ".png"])
def test_bytes_after_the_end_mark_are_fine(tmp_path, ext):
    path = tmp_path / f"padded{ext}"
    path.write_bytes(encoded(ext) + b"\0" * 1000)
    assert imaging.read_image(path).shape == (96, 128, 3)


def folder_set(tmp_path, n: int = 4, cut: tuple[int, ...] = (1,)):
    """n pairs im/s<i>.jpg + gt/s<i>.png; the images of `cut` cut short."""
    for i in range(n):
        image_path, _ = write_pair(tmp_path / "im", tmp_path / "gt", f"s{i}", *blob(seed=i))
        if i in cut:
            cut_short(image_path)
    return tmp_path


def datamodule(root, **kwargs) -> SegmentationDataModule:
    spec = {"name": "v", "image_dir": "im", "mask_dir": "gt"}
    kwargs = {"batch_size": 2, "val_batch_size": 1, **kwargs}
    dm = SegmentationDataModule(32, train_sets=[spec], val_sets=[spec], root=str(root), **kwargs)
    dm.setup("fit")
    return dm


def test_check_images_full_finds_what_the_header_check_passes(tmp_path, caplog):
    root = folder_set(tmp_path, cut=(1, 3))
    bad = root / "im" / "s1.jpg"
    dm = datamodule(root)
    assert check_set_files(dm.val_names, dm.val_sets).samples == 4  # headers: all fine
    with pytest.raises(DataError) as info:
        check_set_files(dm.val_names, dm.val_sets, images="full", threads=2)
    assert str(info.value) == (
        f"cannot read image file {bad}: s1.jpg is truncated (JPEG end marker missing); "
        "re-download or remove it (and 1 more in validation set v); or set "
        "data.strict_eval=false to skip bad files"
    )
    with pytest.raises(DataError, match=r"\(and 1 more in training set train\); or set "
                       r"data.strict_train=false to skip bad files$"):
        check_set_files(["train"], [datamodule(root, strict_train=True).train_set],
                        what="training", images="full")
    with caplog.at_level(logging.WARNING):  # lenient: counted once, skipped in the run
        checked = check_set_files(["train"], [dm.train_set], what="training", images="full")
    assert checked.unusable == []
    assert "training set train: 2 of 4 samples are unusable and skipped; first: " in caplog.text


@pytest.mark.parametrize("workers", [0, 1])
def test_a_strict_set_meeting_a_cut_image_mid_run_names_the_file_and_the_key(tmp_path, workers):
    root = folder_set(tmp_path)
    bad = root / "im" / "s1.jpg"
    dm = datamodule(root, num_workers=workers)
    with pytest.raises(DataError) as info:
        list(dm.val_dataloader()[0])
    assert str(info.value) == (
        f"cannot read image file {bad}: s1.jpg is truncated (JPEG end marker missing); "
        f"re-download or remove it{SKIP_EVAL}"
    )
    dm = datamodule(root, num_workers=workers, strict_train=True, seed=0)
    with pytest.raises(DataError) as info:
        list(dm.train_dataloader())
    assert str(info.value).endswith(
        "re-download or remove it; or set data.strict_train=false to skip bad files "
        "(data.check_images=full checks every image before the run starts)"
    )
    assert "\n" not in str(info.value)


def test_two_cut_images_in_one_evaluation_batch_are_one_line_naming_the_first(tmp_path):
    root = folder_set(tmp_path, cut=(0, 1))
    dm = datamodule(root, val_batch_size=2)
    with pytest.raises(DataError) as info:
        list(dm.val_dataloader()[0])
    assert str(info.value) == (
        f"cannot read image file {root / 'im' / 's0.jpg'}: s0.jpg is truncated (JPEG end marker "
        f"missing); re-download or remove it (and 1 more in this batch){SKIP_EVAL}"
    )


def test_check_images_is_header_or_full(tmp_path):
    assert build_datamodule({}, image_size=32).check_images == "header"
    with pytest.raises(DataError, match=r"data.check_images=all: expected one of \('header', "):
        build_datamodule({"check_images": "all"}, image_size=32)


def test_check_images_full_decodes_each_coco_image_once(tmp_path, monkeypatch):
    from samhq_train.data import sets
    from samhq_train.data.coco_instances import CocoInstanceDataset
    from tests.data.data_helpers import coco_json

    image, _ = blob(48, 64)
    cv2.imwrite(str(tmp_path / "i.jpg"), image)
    squares = [[[x, 10, x + 10, 10, x + 10, 20, x, 20]] for x in (5, 25, 45)]
    anns = [{"segmentation": s, "area": 100.0} for s in squares]
    coco = CocoInstanceDataset(tmp_path, coco_json(tmp_path / "a.json", "i.jpg", 48, 64, anns))
    decoded = []
    real = sets.read_image
    monkeypatch.setattr(sets, "read_image", lambda path: decoded.append(path) or real(path))
    assert check_set_files(["c"], [coco], images="full").samples == 3
    assert decoded == [tmp_path / "i.jpg"]  # three instances, one image
    cut_short(tmp_path / "i.jpg")
    with pytest.raises(DataError, match=r"i.jpg is truncated \(JPEG end marker missing\)"):
        check_set_files(["c"], [coco], images="full")
