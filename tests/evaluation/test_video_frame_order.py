"""samhq-video-eval: a sequence's GT frames in number order where their names are numbers
(0.png ... 11.png, as samhq-video and an extractor write them), the order video training and
samhq-video read frames in (user_files.frame_order): by name, 10.png came before 2.png, so
--skip-first-and-last left out 9.png instead of 11.png, and an object was scored from the
wrong frame on."""

from pathlib import Path

import numpy as np

from samhq_train.evaluation.video.folders import plan_sequence
from samhq_train.user_files import frame_order
from tests.evaluation.video_data import write_indexed


def _sequence(tmp_path, names):
    gt, pred = tmp_path / "gt" / "seq", tmp_path / "pred" / "seq"
    ids = np.zeros((4, 5), np.uint8)
    ids[1:3, 1:3] = 1
    for name in names:
        write_indexed(gt / name, ids)
        write_indexed(pred / name, ids)
    return gt, pred


def test_numbered_gt_frames_are_scored_in_number_order(tmp_path):
    names = [f"{i}.png" for i in range(12)]
    gt, pred = _sequence(tmp_path, names)
    every = plan_sequence("seq", gt, pred, skip_first_and_last=False)
    assert [p.name for p in every.gt] == names
    assert [p.name for p in every.pred] == names
    inner = plan_sequence("seq", gt, pred, skip_first_and_last=True)
    assert [p.name for p in inner.gt] == names[1:-1]


def test_zero_padded_and_other_names_keep_name_order(tmp_path):
    names = ["00000.png", "00005.png", "00010.png", "a.png", "b.png"]
    gt, pred = _sequence(tmp_path, names)
    assert [p.name for p in plan_sequence("seq", gt, pred, False).gt] == names


def test_frame_order_numbers_first_then_names():
    """One number written two ways sorts by name (not by the folder's listing order); a stem of
    digits other than 0-9 ("\u00b2": Python's isdigit, not int's) is a name, not a crash."""
    paths = [Path(n) for n in ("b.jpg", "10.jpg", "\u00b2.jpg", "2.jpg", "002.jpg", "1.jpg")]
    assert [p.name for p in sorted(paths, key=frame_order)] == [
        "1.jpg", "002.jpg", "2.jpg", "10.jpg", "b.jpg", "\u00b2.jpg"]
