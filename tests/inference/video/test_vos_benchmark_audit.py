"""samhq-video-eval --checkpoint with its other flags (mutation audit round 5): --split picks the
sequences both for tracking and for scoring, --score-all-frames reaches the scores, and --frames
names a frames root apart from the annotations."""

import shutil

import pytest

from samhq_train.cli import video_eval
from samhq_train.model import save_checkpoint

from .test_vos_benchmark import NUM_FRAMES, write_davis


@pytest.fixture(scope="module")
def hq_file(official_model, tmp_path_factory):
    return save_checkpoint(official_model, tmp_path_factory.mktemp("ckpt") / "hq.pt", "sam_hq")


def test_split_all_frames_and_a_separate_frames_root(official_model, hq_file, tmp_path):
    davis = write_davis(tmp_path / "davis")
    (davis / "ImageSets" / "2017" / "train.txt").write_text("late\n")
    gt = tmp_path / "annotations_only"  # a DAVIS root without its JPEGImages
    shutil.copytree(davis / "Annotations", gt / "Annotations")
    shutil.copytree(davis / "ImageSets", gt / "ImageSets")
    record = video_eval.main([
        "--gt", str(gt), "--frames", str(davis), "--checkpoint", str(hq_file),
        "--out", str(tmp_path / "out"), "--split", "train", "--score-all-frames",
        "--device", "cpu",
    ])
    for label in ("SAM 2.1", "HQ-SAM 2"):
        assert record[label]["skip_first_and_last"] is False
        assert list(record[label]["sequences"]) == ["late"]
        assert record[label]["sequences"]["late"]["frames"] == NUM_FRAMES
    assert sorted(p.name for p in (tmp_path / "out" / "sam2.1").iterdir()) == ["late"]
