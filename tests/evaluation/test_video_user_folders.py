"""samhq-video-eval on folders as users hand them over: stray files from macOS or Windows,
predictions saved another way (JPEG, unpadded or differently cased names), a --pred that is one
level off. Each gives the right score or one error line (exit 2) naming the file or folder and
what to do."""

from __future__ import annotations

import numpy as np
import pytest

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

