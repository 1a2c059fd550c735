"""samhq-video-eval on folders as users hand them over: stray files from macOS or Windows,
predictions saved another way (JPEG, unpadded or differently cased names), a --pred that is one
level off. Each gives the right score or one error line (exit 2) naming the file or folder and
what to do."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from samhq_train.cli import video_eval
from samhq_train.evaluation.video.folders import plan_sequence
from tests.evaluation.video_data import write_indexed

NAMES = [f"{t:05d}.png" for t in range(5)]


def _ids(t: int) -> np.ndarray:
    ids = np.zeros((12, 16), np.uint8)
    ids[2:6, 2 + t : 8 + t] = 1
    ids[7:11, 9:14] = 2
    return ids


def _sequence(folder, names=NAMES, shift=0):
    for t, name in enumerate(names):
        write_indexed(folder / name, _ids(t + shift))


def _run(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        video_eval.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def test_hidden_files_are_no_frames(tmp_path):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    _sequence(gt / "a")
    _sequence(pred / "a", shift=1)
    for folder in (gt, gt / "a", pred / "a"):
        (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (gt / "a" / "._00001.png").write_bytes(b"\0\5\26\7" + bytes(60))  # AppleDouble
    (pred / "a" / "._00001.png").write_bytes(b"\0\5\26\7" + bytes(60))
    (gt / "a" / "Thumbs.db").write_bytes(b"x")
    inner = plan_sequence("a", gt / "a", pred / "a", skip_first_and_last=True)
    assert [p.name for p in inner.gt] == NAMES[1:-1]  # the last frame is 00004, not ._00001
    args = ["--gt", str(gt), "--pred", str(pred), "--score-all-frames"]
    record = video_eval.main(args)
    assert record["sequences"]["a"]["frames"] == 5
    clean = tmp_path / "clean"
    _sequence(clean / "gt" / "a")
    _sequence(clean / "pred" / "a", shift=1)
    expected = video_eval.main(["--gt", str(clean / "gt"), "--pred", str(clean / "pred"),
                                "--score-all-frames"])
    assert record["J"] == expected["J"] and record["F"] == expected["F"]


def _folders(tmp_path):
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    _sequence(gt / "a")
    _sequence(pred / "a")
    return gt, pred


def _jpeg_predictions(pred):
    for name in NAMES:
        path = pred / "a" / name
        Image.open(path).convert("L").save(path.with_suffix(".jpg"), quality=95)
        path.unlink()


def _one_jpeg(pred):
    path = pred / "a" / NAMES[2]
    Image.open(path).convert("L").save(path.with_suffix(".jpg"))
    path.unlink()


def _unpadded(pred):
    for t, name in enumerate(NAMES):
        (pred / "a" / name).rename(pred / "a" / f"{t}.png")


def _upper_case(pred):
    for name in NAMES:
        (pred / "a" / name).rename(pred / "a" / name.replace(".png", ".PNG"))


def _sav_style(pred):
    (pred / "a" / "1").mkdir()
    for name in NAMES:
        (pred / "a" / name).rename(pred / "a" / "1" / name)


CASES = {  # what the user did -> what the line says (besides the file it names)
    "JPEG predictions": (_jpeg_predictions, "a holds JPEG files (00000.jpg, ...), no PNG masks: "
                         "JPEG compression changes pixel values"),
    "one frame saved as JPEG": (_one_jpeg, "00002.png: missing; the folder has 00002.jpg: JPEG"),
    "names without zero padding": (_unpadded, "00001.png: missing; the folder has 1.png: name "
                                   "each mask exactly as its GT frame"),
    "upper-case suffix": (_upper_case, "00001.png: missing; the folder has 00001.PNG: name each"),
    "object folders, not frames": (_sav_style, "a holds folders (1/, ...), no PNG masks, but its "
                                   "GT"),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_predictions_saved_another_way_are_one_line_naming_them(tmp_path, case, capsys):
    gt, pred = _folders(tmp_path)
    change, expected = CASES[case]
    change(pred)
    line = _run(["--gt", str(gt), "--pred", str(pred)], capsys)
    assert expected in line


def test_pred_one_level_off_is_one_line(tmp_path, capsys):
    gt, pred = _folders(tmp_path)
    line = _run(["--gt", str(gt), "--pred", str(pred / "a")], capsys)
    assert f"--pred {pred / 'a'} holds PNG masks (one sequence's), but --gt {gt} holds " in line
    line = _run(["--gt", str(gt / "a"), "--pred", str(pred)], capsys)
    assert f"--gt {gt / 'a'} is one sequence's masks: give --pred that sequence's folder" in line


def test_other_user_folders_score_or_say_what_to_do(tmp_path, capsys):
    gt, pred = _folders(tmp_path)
    _sequence(pred / "b")  # a predicted video the GT lacks: not read
    _sequence(pred / "a", names=[f"{t:05d}.png" for t in range(5, 9)])  # extra frames: not read
    assert video_eval.main(["--gt", str(gt), "--pred", str(pred)])["J"] == pytest.approx(100.0)
    _sequence(gt / "c")  # a GT video without predictions
    line = _run(["--gt", str(gt), "--pred", str(pred)], capsys)
    assert f"{pred / 'c'}: missing: the GT has sequence c" in line


def test_a_soft_sav_mask_is_refused_with_the_likely_cause(tmp_path):
    from PIL import ImageFilter

    from samhq_train.evaluation.video import VideoInputError
    from samhq_train.evaluation.video.sav import read_object_mask

    hard = np.zeros((24, 32), np.uint8)
    hard[6:18, 8:24] = 255
    path = tmp_path / "00000.png"
    Image.fromarray(hard, "L").filter(ImageFilter.GaussianBlur(2)).save(path)
    with pytest.raises(VideoInputError, match=r"00000.png: \d+ different values, more than one "
                       r"object \(or soft, anti-aliased edges: threshold such a mask to 0 / 1\)"):
        read_object_mask(path)
    Image.fromarray(hard, "L").save(path)  # a hard 0 / 255 mask is one object
    assert read_object_mask(path).sum() == 12 * 16


def test_gt_pointing_at_the_frames_is_one_line(tmp_path, capsys):
    gt, pred = _folders(tmp_path)
    frames = tmp_path / "JPEGImages" / "a"
    frames.mkdir(parents=True)
    for t in range(5):
        Image.new("RGB", (16, 12)).save(frames / f"{t:05d}.jpg")
    line = _run(["--gt", str(tmp_path / "JPEGImages"), "--pred", str(pred)], capsys)
    assert f"{frames} holds JPEG images, no PNG masks: --gt is the annotations' root" in line
