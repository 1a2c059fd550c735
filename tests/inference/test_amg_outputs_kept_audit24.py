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
