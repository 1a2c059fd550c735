"""samhq-video-eval cases the first tests leave open (mutation audit round 5), each against
vos-benchmark 0.1.0 where it scores the case, else against the documented rule."""

import numpy as np
import pytest

from samhq_train.cli import video_eval
from tests.evaluation.video_data import write_indexed


def two_folders(root, frames: int, shape=(8, 9)):
    gt, pred = root / "gt" / "seq", root / "pred" / "seq"
    for t in range(frames):
        ids = np.zeros(shape, np.uint8)
        ids[2:5, 2 + t : 6 + t] = 1
        write_indexed(gt / f"{t:05d}.png", ids)
        write_indexed(pred / f"{t:05d}.png", np.roll(ids, 1, axis=0))
    return root / "gt", root / "pred"


def test_a_two_frame_sequence_has_nothing_to_score_without_its_ends(tmp_path, capsys):
    gt, pred = two_folders(tmp_path, 2)
    with pytest.raises(SystemExit) as info:
        video_eval.main(["--gt", str(gt), "--pred", str(pred)])
    assert info.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "has 2 frame(s)" in line and "--score-all-frames" in line
    record = video_eval.main(["--gt", str(gt), "--pred", str(pred), "--score-all-frames"])
    assert record["sequences"]["seq"]["frames"] == 2


def write_sequence(gt, pred, frames: int = 4, shift: int = 0, empty_gt: bool = False,
                   suffix: str = ".png"):
    for t in range(frames):
        ids = np.zeros((8, 9), np.uint8)
        ids[2:5, 1 + t + shift : 5 + t + shift] = 1
        write_indexed(gt / f"{t:05d}{suffix}", ids * (not empty_gt))
        write_indexed(pred / f"{t:05d}{suffix}", np.roll(ids, 1, axis=0))


def scores(gt, pred, *extra) -> dict:
    record = video_eval.main(["--gt", str(gt), "--pred", str(pred), *extra])
    return {name: s["J&F"] for name, s in record["sequences"].items()}


def test_upper_case_png_names_and_hidden_folders(tmp_path):
    """PNG masks named .PNG are masks; a hidden folder (.ipynb_checkpoints) is no sequence."""
    write_sequence(tmp_path / "gt" / "a", tmp_path / "pred" / "a")
    write_sequence(tmp_path / "gt" / "b", tmp_path / "pred" / "b", shift=1, suffix=".PNG")
    write_sequence(tmp_path / "gt" / ".hidden", tmp_path / "pred" / ".hidden", shift=2)
    expected = scores(tmp_path / "gt", tmp_path / "pred")
    assert sorted(expected) == ["a", "b"] and None not in expected.values()
    assert expected["a"] == expected["b"]  # the same masks, shifted by one pixel


def test_a_root_with_sequences_and_a_stray_png_is_a_root(tmp_path):
    write_sequence(tmp_path / "gt" / "a", tmp_path / "pred" / "a")
    write_indexed(tmp_path / "gt" / "stray.png", np.zeros((8, 9), np.uint8))
    assert sorted(scores(tmp_path / "gt", tmp_path / "pred")) == ["a"]


def test_a_split_file_is_read_only_in_the_davis_480p_layout(tmp_path):
    """<root>/Annotations/<seq>/ (not Annotations/480p): every sequence, whatever
    ImageSets/2017/val.txt lists."""
    for name in ("a", "b"):
        write_sequence(tmp_path / "gt" / "Annotations" / name, tmp_path / "pred" / name)
    split = tmp_path / "gt" / "ImageSets" / "2017" / "val.txt"
    split.parent.mkdir(parents=True)
    split.write_text("a\n")
    assert sorted(scores(tmp_path / "gt", tmp_path / "pred")) == ["a", "b"]


def test_a_sequence_without_objects_beside_others_is_reported_not_refused(tmp_path, capsys):
    write_sequence(tmp_path / "gt" / "a", tmp_path / "pred" / "a")
    write_sequence(tmp_path / "gt" / "empty", tmp_path / "pred" / "empty", empty_gt=True)
    found = scores(tmp_path / "gt", tmp_path / "pred")
    assert found["empty"] is None and found["a"] is not None
    assert "no object in the scored frames" in capsys.readouterr().out


def test_the_json_records_whether_the_ends_were_scored(tmp_path):
    write_sequence(tmp_path / "gt" / "a", tmp_path / "pred" / "a")
    for extra, skipped in (((), True), (("--score-all-frames",), False)):
        out = tmp_path / f"{skipped}.json"
        record = video_eval.main(["--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred"),
                                  "--json", str(out), *extra])
        assert record["skip_first_and_last"] is skipped
        assert record["sequences"]["a"]["frames"] == (2 if skipped else 4)
