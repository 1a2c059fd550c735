"""Mutation audit 22 of samhq-video-eval's void note and folder messages: the note counts the
void frames (not the sequences) and names the first sequence; a .jpeg prediction is named as
JPEG; a hidden ._<frame>.jpg is no JPEG prediction; a frame named in another case is found; a
folder named as the missing frame is no other name; a stray PNG beside the sequence folders
of --pred is not read as one sequence's masks."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from samhq_train.cli import video_eval
from samhq_train.evaluation.video import SequenceScore, void_note
from samhq_train.evaluation.video.folders import named_otherwise
from tests.evaluation.video_data import write_indexed

NAMES = [f"{t:05d}.png" for t in range(4)]


def _ids(t: int) -> np.ndarray:
    ids = np.zeros((12, 16), np.uint8)
    ids[2:6, 2 + t : 8 + t] = 1
    return ids


def _sequence(folder, names=NAMES):
    for t, name in enumerate(names):
        write_indexed(folder / name, _ids(t))


def _refusal(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        video_eval.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1, err
    return err[0]


def test_the_void_note_counts_frames_and_names_the_first_sequence():
    sequences = [SequenceScore("clean", {}, 5), SequenceScore("b", {}, 5, void_frames=3),
                 SequenceScore("c", {}, 5, void_frames=2)]
    note = void_note(sequences)
    assert note.startswith("note: 5 scored GT frame(s) of 2 sequence(s) (first: b) hold value 255")
    assert void_note(sequences[:1]) is None


def test_jpeg_predictions_with_the_long_suffix_are_named(tmp_path, capsys):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    _sequence(gt / "a")
    (pred / "a").mkdir(parents=True)
    for t, name in enumerate(NAMES):
        Image.fromarray(_ids(t) * 255).save(pred / "a" / name.replace(".png", ".jpeg"))
    line = _refusal(["--gt", str(gt), "--pred", str(pred)], capsys)
    assert "a holds JPEG files (00000.jpeg, ...), no PNG masks: JPEG compression" in line


def test_a_hidden_jpeg_is_no_jpeg_prediction(tmp_path, capsys):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    _sequence(gt / "a")
    (pred / "a").mkdir(parents=True)
    (pred / "a" / "._00000.jpg").write_bytes(b"\0\5\26\7" + bytes(60))  # macOS metadata
    line = _refusal(["--gt", str(gt), "--pred", str(pred)], capsys)
    assert "JPEG" not in line and "holds no PNG masks: write the predicted masks there" in line


def test_a_frame_named_in_another_case_is_found(tmp_path, capsys):
    names = [f"f{t}.png" for t in range(4)]
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    _sequence(gt / "a", names)
    _sequence(pred / "a", names)
    (pred / "a" / "f1.png").rename(pred / "a" / "F1.png")
    line = _refusal(["--gt", str(gt), "--pred", str(pred), "--score-all-frames"], capsys)
    assert "f1.png: missing; the folder has F1.png: name each mask exactly as" in line


def test_a_folder_named_as_the_missing_frame_is_no_other_name(tmp_path):
    (tmp_path / "00001.png").mkdir()  # not a file: the frame is still missing
    assert named_otherwise(tmp_path / "00001.png") is None
    (tmp_path / "1.png").write_bytes(b"")
    assert named_otherwise(tmp_path / "00001.png") == tmp_path / "1.png"


def test_a_stray_png_beside_the_sequence_folders_is_not_read(tmp_path):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    _sequence(gt / "a")
    _sequence(pred / "a")
    write_indexed(pred / "preview.png", _ids(0))  # a picture the user kept beside them
    assert video_eval.main(["--gt", str(gt), "--pred", str(pred)])["J"] == pytest.approx(100.0)


def test_digits_that_are_no_ascii_numbers_are_not_read_as_frame_numbers(tmp_path):
    # "²" is a digit to str.isdigit, but int() refuses it: neither name is a frame number
    (tmp_path / "².png").write_bytes(b"")
    assert named_otherwise(tmp_path / "00002.png") is None
    (tmp_path / "00002.png").write_bytes(b"")
    assert named_otherwise(tmp_path / "³.png") is None
