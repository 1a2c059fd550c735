"""samhq-video-eval end to end on synthetic folders (tests/evaluation/video_data.py): the table,
the JSON record, the DAVIS root layout, --score-all-frames, an existing --json; and every bad
input as one error line naming the file, exit 2, before any frame is scored."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from samhq_train.cli import video_eval
from samhq_train.evaluation.video import benchmark as video_benchmark
from tests.evaluation.video_data import (
    SEQUENCES,
    write_dataset,
    write_davis_root,
    write_indexed,
)

SMALL = {name: SEQUENCES[name] for name in ("blobs-wide", "blobs-tall", "short")}


@pytest.fixture
def folders(tmp_path):
    return write_dataset(tmp_path, SMALL)


def test_the_command_prints_the_table_and_writes_the_json(folders, tmp_path, capsys):
    gt, pred = folders
    out = tmp_path / "scores.json"
    record = video_eval.main(["--gt", str(gt), "--pred", str(pred), "--json", str(out)])
    printed = capsys.readouterr().out
    assert "3 sequences, 10 frames scored (first and last frames not scored)" in printed
    for name, scores in record["sequences"].items():
        row = next(line for line in printed.splitlines() if line.startswith(name + " "))
        assert row.split()[-3:] == [f"{scores[k]:.1f}" for k in ("J&F", "J", "F")]
    assert f"J&F {record['J&F']:.1f}  J {record['J']:.1f}  F {record['F']:.1f}" in printed
    assert json.loads(out.read_text()) == record
    objects = [o for s in record["sequences"].values() for o in s["objects"].values()]
    assert record["objects"] == len(objects) == 13
    assert record["J"] == pytest.approx(np.mean([o["J"] for o in objects]))
    assert record["J&F"] == pytest.approx((record["J"] + record["F"]) / 2)
    assert record["skip_first_and_last"] is True and record["units"] == "percent"


def test_score_all_frames_scores_the_first_and_last_frame(folders, capsys):
    gt, pred = folders
    skipped = video_eval.main(["--gt", str(gt), "--pred", str(pred)])
    every = video_eval.main(["--gt", str(gt), "--pred", str(pred), "--score-all-frames"])
    assert {n: s["frames"] for n, s in every["sequences"].items()} == {
        n: f for n, (_, _, f) in SMALL.items()
    }
    assert {n: s["frames"] for n, s in skipped["sequences"].items()} == {
        n: f - 2 for n, (_, _, f) in SMALL.items()
    }
    assert every["J&F"] != skipped["J&F"]
    assert "(all frames)" in capsys.readouterr().out
    explicit = video_eval.main(["--gt", str(gt), "--pred", str(pred), "--skip-first-last"])
    assert explicit == skipped
    with pytest.raises(SystemExit) as info:  # argparse: not both
        video_eval.main(["--gt", str(gt), "--pred", str(pred), "--skip-first-last",
                         "--score-all-frames"])
    assert info.value.code == 2


def test_a_davis_root_scores_the_sequences_of_its_split(folders, tmp_path):
    gt, pred = folders
    davis, _ = write_davis_root(tmp_path / "davis", SMALL, split=["blobs-tall", "short"])
    record = video_eval.main(["--gt", str(davis), "--pred", str(pred)])
    assert sorted(record["sequences"]) == ["blobs-tall", "short"]
    plain = video_eval.main(["--gt", str(gt), "--pred", str(pred)])
    assert record["sequences"]["short"] == plain["sequences"]["short"]


def test_one_sequence_folder_is_scored_alone(folders):
    gt, pred = folders
    one = video_eval.main(["--gt", str(gt / "short"), "--pred", str(pred / "short")])
    every = video_eval.main(["--gt", str(gt), "--pred", str(pred)])
    assert one["sequences"] == {"short": every["sequences"]["short"]}
    assert one["J&F"] == every["sequences"]["short"]["J&F"]


def test_an_existing_json_is_kept_unless_overwrite(folders, tmp_path, capsys):
    gt, pred = folders
    out = tmp_path / "scores.json"
    out.write_text("keep me")
    with pytest.raises(SystemExit) as info:
        video_eval.main(["--gt", str(gt), "--pred", str(pred), "--json", str(out)])
    assert info.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        f"error: --json {out} already exists: pass --overwrite to replace it, or give another "
        "--json"
    ]
    assert out.read_text() == "keep me"
    video_eval.main(["--gt", str(gt), "--pred", str(pred), "--json", str(out), "--overwrite"])
    assert json.loads(out.read_text())["objects"] == 13


def _rgb(path):
    Image.open(path).convert("RGB").save(path)


def _grey(path):
    Image.open(path).convert("L").save(path)


def _jpeg_named_png(path):
    Image.open(path).convert("RGB").save(path, format="JPEG")


def _smaller(path):
    write_indexed(path, np.array(Image.open(path))[:-1])


def _remove_sequence_dir(path):
    shutil.rmtree(path.parent)


def _empty_sequence_dir(path):
    for frame in path.parent.iterdir():
        frame.unlink()


# (what breaks, which root, the frame it touches, the words the line holds, the path it names)
BAD_INPUTS = {
    "missing predicted sequence": ("pred", 2, _remove_sequence_dir, "missing", "dir"),
    "missing predicted frame": ("pred", 2, lambda p: p.unlink(), "missing", "file"),
    "predicted frame of another size": ("pred", 2, _smaller, "64x119 pixels", "file"),
    "RGB predicted frame": ("pred", 1, _rgb, "mode RGB image (colours, not ids)", "file"),
    "greyscale GT frame": ("gt", 1, _grey, "mode L image", "file"),
    "JPEG named .png": ("pred", 1, _jpeg_named_png, "a JPEG file, not a PNG", "file"),
    "undecodable frame": ("gt", 2, lambda p: p.write_bytes(b"not an image"), "cannot be read",
                          "file"),
    "empty predicted sequence": ("pred", 0, _empty_sequence_dir, "holds no PNG masks", "dir"),
    "empty GT sequence": ("gt", 0, _empty_sequence_dir, "holds no PNG masks", "dir"),
}


@pytest.mark.parametrize("case", BAD_INPUTS, ids=list(BAD_INPUTS))
def test_bad_input_is_one_line_naming_it_before_scoring(folders, case, monkeypatch, capsys):
    gt, pred = folders
    root, frame, damage, words, named = BAD_INPUTS[case]
    path = (gt if root == "gt" else pred) / "blobs-tall" / f"{frame:05d}.png"
    damage(path)
    scored = []
    monkeypatch.setattr(video_benchmark, "score_sequence", lambda *a: scored.append(a))
    with pytest.raises(SystemExit) as info:
        video_eval.main(["--gt", str(gt), "--pred", str(pred)])
    assert info.value.code == 2 and not scored
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: {path if named == 'file' else path.parent}")
    assert words in line


def _folder_case(tmp_path, gt, pred, case):
    if case == "no GT folder":
        return tmp_path / "nowhere", pred, "--gt"
    if case == "no sequences":
        (tmp_path / "empty").mkdir()
        return tmp_path / "empty", pred, "holds no sequence folders"
    if case == "split lists a missing sequence":
        davis, _ = write_davis_root(tmp_path / "davis", SMALL, split=["short", "bmx-trees"])
        return davis, pred, "lists bmx-trees"
    if case == "two-frame sequence":
        for t in (1, 2):
            (gt / "short" / f"{t:05d}.png").unlink()
        return gt, pred, "pass --score-all-frames"
    return gt, tmp_path / "nowhere", "--pred"


@pytest.mark.parametrize("case", [
    "no GT folder", "no sequences", "split lists a missing sequence", "two-frame sequence",
    "no prediction folder",
])
def test_bad_folders_are_one_line(folders, tmp_path, case, capsys):
    gt, pred, words = _folder_case(tmp_path, *folders, case)
    with pytest.raises(SystemExit) as info:
        video_eval.main(["--gt", str(gt), "--pred", str(pred)])
    assert info.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: ") and words in line


def test_no_object_in_any_scored_frame_is_one_line(tmp_path, capsys):
    for t in range(3):
        write_indexed(tmp_path / "gt" / "seq" / f"{t}.png", np.zeros((8, 9), np.uint8))
        write_indexed(tmp_path / "pred" / "seq" / f"{t}.png", np.ones((8, 9), np.uint8))
    with pytest.raises(SystemExit) as info:
        video_eval.main(["--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred")])
    assert info.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "no ground-truth object" in line
