"""samhq-video-eval: a path of the wrong kind is named for what it is (user_files.not_a_file /
not_a_folder): a --video-list that is a folder said "file not found", a prediction folder that
is a file said "missing"."""

import numpy as np
import pytest

from samhq_train.evaluation.video import VideoInputError, plan_evaluation, read_video_list
from tests.evaluation.video_data import write_indexed


def test_a_video_list_that_is_a_folder_says_so(tmp_path):
    with pytest.raises(VideoInputError) as err:
        read_video_list(tmp_path)
    assert str(err.value).startswith(f"--video-list {tmp_path}: a folder, not a file; give a")
    with pytest.raises(VideoInputError, match="list.txt: no such file; give a text file"):
        read_video_list(tmp_path / "list.txt")


@pytest.mark.parametrize("layout, gt_frame, what", [
    ("davis", "v/00000.png", "sequence v"),
    ("sav", "v/000/00000.png", "video v"),
])
def test_a_prediction_folder_that_is_a_file_says_so(tmp_path, layout, gt_frame, what):
    for name in ("00000.png", "00001.png", "00002.png"):
        write_indexed(tmp_path / "gt" / gt_frame.replace("00000.png", name),
                      np.ones((4, 5), np.uint8))
    (tmp_path / "pred").mkdir()
    (tmp_path / "pred" / "v").write_text("")
    with pytest.raises(VideoInputError) as err:
        plan_evaluation(tmp_path / "gt", tmp_path / "pred")
    assert str(err.value).startswith(
        f"{tmp_path / 'pred' / 'v'}: a file, not a folder: the GT has {what} "
        f"({tmp_path / 'gt' / 'v'}); write its predicted masks there"), err.value
