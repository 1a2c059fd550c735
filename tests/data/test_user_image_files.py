"""A user's own image files through the readers: macOS '._' files and hidden files left out of
folder listings, a TIFF's applied orientation, a phone's motion photo (data after the JPEG), a
cut JPEG with an EXIF thumbnail, HEIC / AppleDouble named in their refusal, several frames read
as the first, and a COCO json that has an EXIF-turned photo's size turned."""

import io
import struct
import threading

import numpy as np
import pytest
from data_helpers import coco_json
from PIL import Image

from samhq_train import image_header, imaging
from samhq_train.data import CocoInstanceDataset, DataError, PairedFolderDataset
from samhq_train.inference.predict_files import list_images
from tests.data.test_odd_image_files import NEEDS_GIF_DECODING

APPLE_DOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(64)
RNG = np.random.default_rng(0)


def pixels(h=24, w=36) -> np.ndarray:
    return RNG.integers(0, 255, (h, w, 3), dtype=np.uint8)


def jpeg_bytes(image: np.ndarray, **save) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=90, **save)
    return buf.getvalue()


def test_apple_double_and_hidden_files_are_left_out_of_folder_listings(tmp_path):
    images, masks = tmp_path / "im", tmp_path / "gt"
    images.mkdir()
    masks.mkdir()
    (images / "a.jpg").write_bytes(jpeg_bytes(pixels()))
    Image.fromarray(np.full((24, 36), 255, np.uint8)).save(masks / "a.png")
    for folder, suffix in ((images, ".jpg"), (masks, ".png")):  # as a copy from a Mac leaves
        (folder / f"._a{suffix}").write_bytes(APPLE_DOUBLE)
        (folder / f".hidden{suffix}").write_bytes(APPLE_DOUBLE)
        (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    dataset = PairedFolderDataset(images, masks)  # strict: a file without its pair is refused
    assert [stem for stem, _, _ in dataset.pairs] == ["a"]
    assert list_images([str(images)]) == [images / "a.jpg"]


def test_a_tiff_orientation_comes_applied_so_none_is_reported(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "turned.tif"
    Image.fromarray(pixels()).save(path, exif=exif)
    read = imaging.read_image(path)
    header = image_header.read_header(path)
    assert read.shape[:2] == (36, 24)  # libtiff applies the tag, in OpenCV and PIL alike
    assert (header.height, header.width, header.orientation) == (36, 24, 1)
    with Image.open(path) as im:
        np.testing.assert_array_equal(read, np.asarray(im.convert("RGB")))


def test_a_motion_photo_is_read_as_its_picture(tmp_path):
    picture = jpeg_bytes(pixels())
    plain, motion = tmp_path / "plain.jpg", tmp_path / "MVIMG_1.jpg"
    plain.write_bytes(picture)
    motion.write_bytes(picture + b"\0\0\0\x18ftypmp42" + RNG.bytes(3 * 4096))  # a video after it
    np.testing.assert_array_equal(imaging.read_image(motion), imaging.read_image(plain))


def test_a_cut_jpeg_is_refused_though_its_exif_thumbnail_ends(tmp_path):
    picture = jpeg_bytes(pixels(64, 64))
    thumbnail = jpeg_bytes(pixels(4, 4))
    app1 = b"Exif\0\0" + thumbnail
    whole = picture[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + picture[2:]
    path = tmp_path / "cut.jpg"
    path.write_bytes(whole[: len(whole) - len(picture) // 3])
    with pytest.raises(image_header.ImageFileError,
                       match=r"cut.jpg is truncated \(JPEG end marker"):
        imaging.read_image(path)
    path.write_bytes(whole)
    assert imaging.read_image(path).shape == (64, 64, 3)


@pytest.mark.parametrize("head, said", [
    (b"\0\0\0\x18ftypheic\0\0\0\0mif1heic", r"heic.jpg is a HEIC image, which is not read; "
                                            r"convert it to JPEG or PNG"),
    (APPLE_DOUBLE, r"heic.jpg is macOS metadata \(an AppleDouble '._' file"),
], ids=["heic", "apple_double"])
def test_a_heic_or_apple_double_file_is_named_in_its_refusal(tmp_path, head, said):
    path = tmp_path / "heic.jpg"
    path.write_bytes(head + bytes(200))
    with pytest.raises(image_header.ImageFileError, match=said):
        imaging.read_image(path)
    with pytest.raises(image_header.ImageFileError, match=said):
        imaging.read_image_bytes(path.read_bytes(), "heic.jpg")
    image_header.set_max_image_pixels(0)  # no limit: OpenCV's decoder tries, the same line
    try:
        with pytest.raises(image_header.ImageFileError, match=said):
            imaging.read_image(path)
    finally:
        image_header.set_max_image_pixels(image_header.DEFAULT_MAX_PIXELS)


@pytest.mark.parametrize("name", ["pages.tif",
                                  pytest.param("moving.gif", marks=NEEDS_GIF_DECODING)])
def test_a_file_of_several_frames_reads_as_its_first(tmp_path, name):
    first = np.zeros((20, 30, 3), np.uint8)
    first[:10] = 255
    frames = [Image.fromarray(first), Image.fromarray(255 - first)]
    frames[0].save(tmp_path / name, save_all=True, append_images=frames[1:])
    np.testing.assert_array_equal(imaging.read_image(tmp_path / name), first)


def test_a_coco_size_turned_by_exif_says_so(tmp_path):
    (tmp_path / "im").mkdir()
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(pixels()).save(tmp_path / "im" / "phone.jpg", exif=exif)
    # the tool showed the photo upright (36 wide, 24 high ... turned) and wrote that size
    ann = coco_json(tmp_path / "ann.json", "phone.jpg", 36, 24, [
        {"segmentation": [[2, 2, 20, 2, 20, 20, 2, 20]], "area": 324.0}])
    dataset = CocoInstanceDataset(tmp_path / "im", ann)
    said = (r"the json says 24x36 but the image is 36x24 \(WxH\); fix the json or the image; "
            r"phone.jpg has EXIF orientation 6 .* save it upright")
    with pytest.raises(DataError, match=said):
        dataset[0]
    with pytest.raises(DataError, match=said):
        dataset.checked_files(0)


def test_the_first_exif_turned_image_of_a_set_is_noted_once(tmp_path, caplog, monkeypatch):
    from samhq_train.data import image_files

    monkeypatch.setattr(image_files, "_TURN_NOTED", threading.Event(), raising=False)
    images, masks = tmp_path / "im", tmp_path / "gt"
    images.mkdir()
    masks.mkdir()
    exif = Image.Exif()
    exif[0x0112] = 3  # turned 180 degrees: the size agrees either way
    for stem in ("a", "b"):
        Image.fromarray(pixels()).save(images / f"{stem}.jpg", exif=exif)
        Image.fromarray(np.full((24, 36), 255, np.uint8)).save(masks / f"{stem}.png")
    dataset = PairedFolderDataset(images, masks)
    with caplog.at_level("WARNING", logger="samhq_train.data.image_files"):
        dataset.checked_files(0)
        dataset.checked_files(1)
    notes = [r.getMessage() for r in caplog.records if "EXIF orientation" in r.getMessage()]
    assert len(notes) == 1
    assert "a.jpg has EXIF orientation 3" in notes[0] and "save such photos upright" in notes[0]
