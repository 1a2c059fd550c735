"""samhq-amg keeps what a user wrote in --out: the masks folder --output-mode binary_mask writes
(<stem>_masks/) is checked with the other outputs before the model is read."""

import cv2
import pytest

from samhq_train.errors import SETUP_ERROR_EXIT
from samhq_train.inference.amg_command import main as amg_main

from .amg_reference import disc_image


@pytest.fixture
def folder(tmp_path):
    """An image and, beside it, the user's own masks folder named as amg names its masks."""
    cv2.imwrite(str(tmp_path / "discs.png"), disc_image())
    (tmp_path / "discs_masks").mkdir()
    (tmp_path / "discs_masks" / "0000.png").write_bytes(b"the user's own mask")
    return tmp_path


def test_a_users_masks_folder_is_not_written_into(folder, capsys):
    argv = ["--image", str(folder / "discs.png"), "--out", str(folder), "--points-per-side", "2"]
    with pytest.raises(SystemExit) as stop:
        amg_main(argv + ["--output-mode", "binary_mask"])
    assert stop.value.code == SETUP_ERROR_EXIT
    err = capsys.readouterr().err
    assert "discs_masks already exists" in err and "--overwrite" in err
    assert (folder / "discs_masks" / "0000.png").read_bytes() == b"the user's own mask"
    assert not (folder / "discs.json").exists()


def test_the_masks_folder_is_no_output_of_other_modes(folder):
    """coco_rle writes no <stem>_masks/: a folder of that name is none of its business."""
    argv = ["--image", str(folder / "discs.png"), "--out", str(folder), "--points-per-side", "2"]
    assert amg_main(argv + ["--pred-iou-thresh", "0", "--stability-score-thresh", "0"]) == 0
    assert (folder / "discs_masks" / "0000.png").read_bytes() == b"the user's own mask"


@pytest.mark.parametrize("bare, flag", [("discs.png", "--image"), (".", "--images")])
def test_a_bare_image_names_its_flag(folder, capsys, monkeypatch, bare, flag):
    """`samhq-amg photo.jpg`, as samhq-predict takes it: the usage error names the flag."""
    monkeypatch.chdir(folder)
    with pytest.raises(SystemExit) as stop:
        amg_main([bare, "--out", "out"])
    assert stop.value.code == 2
    assert f"give images with their flag: {flag} {bare}" in capsys.readouterr().err
    assert not (folder / "out").exists()


def test_an_unreadable_image_of_several_does_not_stop_the_others(tmp_path, capsys):
    """A damaged file among a folder's images: its error line, the images after it still get
    their masks, a last line counting both, exit 2."""
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.png", "c.png"):
        cv2.imwrite(str(photos / name), disc_image())
    (photos / "b.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    argv = ["--images", str(photos), "--out", str(out), "--points-per-side", "2"]
    with pytest.raises(SystemExit) as stop:
        amg_main(argv)
    assert stop.value.code == SETUP_ERROR_EXIT
    assert (out / "a.json").is_file() and (out / "c.json").is_file()
    assert not (out / "b.json").exists()
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 2 and "b.png" in errors[0]
    counted = "1 of 3 images could not be read (listed above); the masks of the other 2 are in"
    assert f"{counted} {out}" in errors[1]


def test_an_image_without_masks_says_which_filters_dropped_them(tmp_path, capsys):
    """The default filters keep nothing of a briefly trained model: one note, once per run,
    names the thresholds and the flags that loosen them."""
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(tmp_path / name), disc_image())
    argv = ["--image", str(tmp_path / "a.png"), "--image", str(tmp_path / "b.png"),
            "--points-per-side", "2", "--out", str(tmp_path / "out")]
    assert amg_main(argv + ["--pred-iou-thresh", "0.99"]) == 0
    err = capsys.readouterr().err
    note = "note: no mask passed --pred-iou-thresh 0.99 and --stability-score-thresh 0.95"
    assert err.count(note) == 1
    assert "--pred-iou-thresh 0 --stability-score-thresh 0.5" in err
