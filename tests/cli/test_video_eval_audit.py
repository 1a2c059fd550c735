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
