"""samhq-predict as people use it, the images it reads: the pixel limit read from the header (and
data's the same), memory failures, EXIF notes, subfolders, broken images under --prompts."""

import json
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from samhq_train import image_header, imaging
from samhq_train.errors import SETUP_ERROR_EXIT
from samhq_train.inference import ImageReadError, SamHQPredictor, load_image
from tests.inference.predict_runs import errors, run, three_images, write_image

pytestmark = pytest.mark.usefixtures("pixel_limit_restored")


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG whose header says width x height, with no pixel data (a decoder would fail)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))
    return path


def test_pixel_limit_is_read_from_the_header_before_decoding(tmp_path, monkeypatch):
    bomb = png_header_only(tmp_path / "bomb.png", 20000, 20000)
    with pytest.raises(image_header.ImageTooLargeError, match=r"bomb.png is 20000 x 20000 = "
                       r"400,000,000 pixels, over the pixel limit of 100,000,000 \(100 MP\); "
                       r"raise SAMHQ_MAX_IMAGE_PIXELS"):
        imaging.read_image(bomb)
    small = write_image(tmp_path / "small.png", (60, 80))
    with pytest.raises(ImageReadError, match=r"small.png is 80 x 60 = 4,800 pixels, over the "
                       r"pixel limit of 4,000"):
        load_image(small, max_pixels=4000)
    monkeypatch.setattr(cv2, "imdecode", lambda *a: pytest.fail("decoded past the limit"))
    image_header.set_max_image_pixels(1000, "data.max_image_pixels")
    with pytest.raises(image_header.ImageTooLargeError, match="raise data.max_image_pixels"):
        imaging.read_image(small)
    assert Image.MAX_IMAGE_PIXELS == 1000  # PIL's own limit follows ours
    image_header.set_max_image_pixels(0)
    assert image_header.read_header(bomb) == image_header.ImageHeader(20000, 20000, 1)
    assert Image.MAX_IMAGE_PIXELS is None


def test_predict_refuses_an_image_over_max_pixels_in_one_line_and_goes_on(
    tmp_path, tiny_weights, capsys
):
    folder = tmp_path / "images"
    folder.mkdir()
    png_header_only(folder / "huge.png", 20000, 20000)
    write_image(folder / "fine.png")
    code, out, err = run(
        [folder, "--checkpoint", tiny_weights, "--box", 5, 5, 50, 40, "--out", tmp_path / "out"],
        capsys,
    )
    assert code == SETUP_ERROR_EXIT
    lines = errors(err)
    assert "huge.png is 20000 x 20000 = 400,000,000 pixels, over the pixel limit" in lines[0]
    assert "raise --max-pixels" in lines[0] and "not a readable image" not in lines[0]
    assert "fine.png" in out and (tmp_path / "out" / "fine_mask.png").is_file()
    code, out, err = run(
        [folder / "fine.png", "--checkpoint", tiny_weights, "--box", 5, 5, 50, 40,
         "--out", tmp_path / "out2", "--max-pixels", 1000],
        capsys,
    )
    assert code == SETUP_ERROR_EXIT
    assert "fine.png is 80 x 60 = 4,800 pixels, over the pixel limit of 1,000" in errors(err)[0]


def test_running_out_of_memory_is_reported_as_such(tmp_path, tiny_weights, capsys, monkeypatch):
    image = write_image(tmp_path / "a.png")

    def no_memory(*args):
        raise cv2.error("OpenCV(4.10.0) (-4:Insufficient memory) Failed to allocate 1 bytes")

    with monkeypatch.context() as patch:
        patch.setattr(cv2, "imdecode", no_memory)
        with pytest.raises(image_header.ImageMemoryError,
                           match=r"out of memory on image file .*a.png \(80 x 60 pixels\)"):
            load_image(image)
    write_image(tmp_path / "b.png", seed=1)
    real = SamHQPredictor.predict
    calls = []

    def predict_once_out_of_memory(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("[enforce fail at alloc_cpu.cpp:118] DefaultCPUAllocator: can't "
                               "allocate memory: you tried to allocate 1 bytes")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(SamHQPredictor, "predict", predict_once_out_of_memory)
    code, out, err = run(
        [image, tmp_path / "b.png", "--checkpoint", tiny_weights, "--box", 5, 5, 50, 40,
         "--out", tmp_path / "out"],
        capsys,
    )
    assert code == SETUP_ERROR_EXIT
    lines = errors(err)
    assert "out of memory on image file" in lines[0] and "a.png (80 x 60 pixels)" in lines[0]
    assert "1 image(s) out of memory" in lines[-1]
    assert "b.png" in out and not (tmp_path / "out" / "a_mask.png").exists()


def test_exif_rotated_input_gets_a_note_and_is_used_as_stored(tmp_path, tiny_weights, capsys):
    pixels = np.random.default_rng(0).integers(0, 255, (40, 70, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[image_header.EXIF_ORIENTATION] = 6
    Image.fromarray(pixels).save(tmp_path / "photo.jpg", exif=exif, quality=95)
    assert image_header.read_header(tmp_path / "photo.jpg").orientation == 6
    code, _, err = run(
        [tmp_path / "photo.jpg", "--checkpoint", tiny_weights, "--box", 5, 5, 60, 30,
         "--out", tmp_path / "out"],
        capsys,
    )
    assert code == 0
    notes = [line for line in err.splitlines() if "EXIF orientation 6" in line]
    assert len(notes) == 1 and "used as stored" in notes[0], err
    assert cv2.imread(str(tmp_path / "out" / "photo_mask.png")).shape[:2] == (40, 70)


def test_subfolders_of_an_input_folder_are_counted_in_a_note(tmp_path, tiny_weights, capsys):
    folder = three_images(tmp_path)
    (folder / "more").mkdir()
    write_image(folder / "more" / "d.png")
    (folder / "odd.png").mkdir()  # a folder with an image's name is not an image either
    code, out, err = run(
        [folder, "--checkpoint", tiny_weights, "--box", 5, 5, 50, 40, "--out", tmp_path / "out"],
        capsys,
    )
    assert code == 0
    assert f"note: {folder}: 2 subfolder(s) not read (more, odd.png)" in err
    assert "d.png" not in out


def test_a_broken_image_under_prompts_is_reported_unreadable(tmp_path, tiny_weights, capsys):
    folder, prompts = tmp_path / "images", tmp_path / "prompts"
    folder.mkdir()
    prompts.mkdir()
    write_image(folder / "good.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n damaged")
    (prompts / "good.json").write_text(json.dumps({"boxes": [[5, 5, 50, 40]]}))
    code, out, err = run(
        [folder, "--checkpoint", tiny_weights, "--prompts", prompts, "--out", tmp_path / "out"],
        capsys,
    )
    assert code == SETUP_ERROR_EXIT
    lines = errors(err)
    assert "broken.png is not a readable image" in lines[0] and "no prompt" not in lines[0]
    assert "1 unreadable image(s)" in lines[-1] and "good.png" in out


def test_the_data_config_sets_the_same_limit(tmp_path):
    from samhq_train.data import DataError
    from samhq_train.data import read_image as data_read_image
    from samhq_train.data.datamodule import SegmentationDataModule

    SegmentationDataModule(64, max_image_pixels=1000)
    with pytest.raises(DataError, match=r"small.png is 80 x 60 = 4,800 pixels, over the pixel "
                       r"limit of 1,000 .*raise data.max_image_pixels"):
        data_read_image(write_image(tmp_path / "small.png"))
    assert image_header.max_image_pixels() == 1000  # in the environment: loader workers see it too
