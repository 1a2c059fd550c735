"""samhq-amg --output-mode binary_mask --overwrite: a file where <stem>_masks/ goes is refused
before the model is read (--overwrite replaces outputs, it does not turn a file into a folder)."""

from types import SimpleNamespace

import cv2
import pytest

from samhq_train.errors import SETUP_ERROR_EXIT
from samhq_train.inference.amg_command import main as amg_main
from samhq_train.inference.amg_command import print_empty_note

from .amg_reference import disc_image


def test_a_file_where_the_masks_folder_goes_is_refused_with_overwrite(tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "discs.png"), disc_image())
    (tmp_path / "discs_masks").write_bytes(b"the user's notes")
    argv = ["--image", str(tmp_path / "discs.png"), "--out", str(tmp_path),
            "--output-mode", "binary_mask", "--overwrite"]
    with pytest.raises(SystemExit) as stop:
        amg_main(argv)
    assert stop.value.code == SETUP_ERROR_EXIT
    assert "discs_masks is a file where a folder is written" in capsys.readouterr().err
    assert (tmp_path / "discs_masks").read_bytes() == b"the user's notes"
    assert not (tmp_path / "discs.json").exists()


@pytest.mark.parametrize("iou, stability, said", [(0.0, 0.95, True), (0.88, 0.0, True),
                                                  (0.88, 0.95, True), (0.0, 0.0, False)])
def test_the_no_mask_note_is_said_while_either_filter_is_on(capsys, iou, stability, said):
    generator = SimpleNamespace(pred_iou_thresh=iou, stability_score_thresh=stability)
    assert print_empty_note(generator) is said
    err = capsys.readouterr().err
    assert (f"note: no mask passed --pred-iou-thresh {iou:g} and --stability-score-thresh "
            f"{stability:g}" in err) is said


def test_every_images_masks_folder_is_checked(tmp_path, capsys):
    for name in ("a.png", "b.png"):
        cv2.imwrite(str(tmp_path / name), disc_image())
    (tmp_path / "b_masks").mkdir()
    (tmp_path / "b_masks" / "0000.png").write_bytes(b"the user's own mask")
    argv = ["--image", str(tmp_path / "a.png"), "--image", str(tmp_path / "b.png"),
            "--out", str(tmp_path), "--output-mode", "binary_mask"]
    with pytest.raises(SystemExit) as stop:
        amg_main(argv)
    assert stop.value.code == SETUP_ERROR_EXIT
    assert "b_masks already exists" in capsys.readouterr().err
    assert not (tmp_path / "a.json").exists() and not (tmp_path / "a_masks").exists()
