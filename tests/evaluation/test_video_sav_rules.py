"""samhq-video-eval's SA-V layout on small hand-made folders (mutation audit round 6): how many
frames a video reports, which masks are one object, the folders a root may hold, and the line
each bad input gets, spelled out."""

import numpy as np
import pytest

from samhq_train.evaluation.video import (
    VideoInputError,
    detect_layout,
    gt_layout,
    plan_evaluation,
    score_sequences,
)
from samhq_train.evaluation.video.sav import read_object_mask
from tests.evaluation.video_data import write_indexed

SHAPE = (8, 9)


def box(t: int) -> np.ndarray:
    mask = np.zeros(SHAPE, np.uint8)
    mask[2:6, 1 + t % 4 : 5 + t % 4] = 1
    return mask


def write_object(root, video: str, obj: str, frames, value: int = 1) -> None:
    for t in frames:
        write_indexed(root / video / obj / f"{t:05d}.png", box(t) * value)


def test_a_video_counts_each_scored_frame_name_once(tmp_path):
    """Objects annotated on overlapping frame ranges: the frames scored are the union of each
    object's own (its first and last left out)."""
    for kind in ("gt", "pred"):
        write_object(tmp_path / kind, "v", "000", range(0, 5))  # scores 1, 2, 3
        write_object(tmp_path / kind, "v", "001", range(2, 7))  # scores 3, 4, 5
    plans = plan_evaluation(tmp_path / "gt", tmp_path / "pred")
    assert [p.name for p in plans[0].objects["001"].gt] == ["00003.png", "00004.png", "00005.png"]
    (video,), overall = score_sequences(plans, show_progress=False)
    assert video.frames == 5 and sorted(video.objects) == ["000", "001"]
    assert overall.jf == 100.0


def test_a_missing_predicted_video_is_one_line(tmp_path):
    write_object(tmp_path / "gt", "v", "000", range(3))
    (tmp_path / "pred").mkdir()
    with pytest.raises(VideoInputError) as err:
        plan_evaluation(tmp_path / "gt", tmp_path / "pred")
    assert str(err.value) == (
        f"{tmp_path / 'pred' / 'v'}: missing: the GT has video v ({tmp_path / 'gt' / 'v'}); "
        "write its predicted masks there, <object>/<frame>.png")


@pytest.mark.parametrize("values", [(0, 1, 2), (3, 7)], ids=["two objects", "no background"])
def test_one_object_per_mask(tmp_path, values):
    path = tmp_path / "m.png"
    write_indexed(path, np.resize(np.array(values, np.uint8), SHAPE))
    if len(values) > 2:
        with pytest.raises(VideoInputError, match="m.png: 3 different values, more than one obj"):
            read_object_mask(path)
    else:
        assert np.array_equal(read_object_mask(path), np.ones(SHAPE, np.uint8))


def test_any_nonzero_value_is_the_object(tmp_path):
    path = tmp_path / "m.png"
    write_indexed(path, box(1) * 200)
    assert np.array_equal(read_object_mask(path), box(1))


def test_two_annotated_frames_cannot_be_scored_without_the_first_and_last(tmp_path):
    for kind in ("gt", "pred"):
        write_object(tmp_path / kind, "v", "000", range(2))
    with pytest.raises(VideoInputError, match="000 has 2 frame.s.: with the first and last"):
        plan_evaluation(tmp_path / "gt", tmp_path / "pred")
    plans = plan_evaluation(tmp_path / "gt", tmp_path / "pred", skip_first_and_last=False)
    assert len(plans[0].objects["000"].gt) == 2


def test_a_prediction_of_another_height_is_one_line(tmp_path):
    write_object(tmp_path / "gt", "v", "000", range(3))
    for t in range(3):
        write_indexed(tmp_path / "pred" / "v" / "000" / f"{t:05d}.png", np.zeros((5, 9)))
    with pytest.raises(VideoInputError) as err:
        plan_evaluation(tmp_path / "gt", tmp_path / "pred")
    assert str(err.value).endswith(f"00001.png: 9x5 pixels, its GT {tmp_path}/gt/v/000/00001.png "
                                   "is 9x8: write predictions at the GT's size")


def test_hidden_folders_and_upper_case_suffixes(tmp_path):
    """A hidden folder (.ipynb_checkpoints, say) is not a video nor an object; NAME.PNG is a
    mask."""
    for kind in ("gt", "pred"):
        write_object(tmp_path / kind, "v", "000", range(3))
        write_object(tmp_path / kind, "v", ".cache", range(3))
        write_object(tmp_path / kind, ".hidden", "000", range(3))
    (tmp_path / "pred" / "v" / "000" / "00001.png").rename(
        tmp_path / "pred" / "v" / "000" / "00001.PNG")
    (tmp_path / "gt" / "v" / "000" / "00001.png").rename(
        tmp_path / "gt" / "v" / "000" / "00001.PNG")
    (video,) = plan_evaluation(tmp_path / "gt", tmp_path / "pred")
    assert video.name == "v" and list(video.objects) == ["000"]
    assert [p.name for p in video.objects["000"].gt] == ["00001.PNG"]


def test_the_layout_question_names_the_first_folder_of_each_kind(tmp_path):
    for name in ("a", "b"):
        write_indexed(tmp_path / name / "00000.png", box(0))
    write_object(tmp_path, "c", "000", range(1))
    write_object(tmp_path, "d", "000", range(1))
    with pytest.raises(VideoInputError, match=r"a/ holds PNG frames .* but c/ object folders"):
        detect_layout(tmp_path, ["a", "b", "c", "d"])
    (tmp_path / "empty").mkdir()
    assert detect_layout(tmp_path, ["empty"]) == "davis"  # the DAVIS checks then name it
    with pytest.raises(ValueError, match="layout 'SA-V'"):
        gt_layout(tmp_path, layout="SA-V")


def test_an_sav_prediction_root_may_be_an_sav_root(tmp_path):
    """--pred given as an SA-V root (its masks under Annotations_6fps/) is read there."""
    for root in (tmp_path / "gt", tmp_path / "pred" / "Annotations_6fps"):
        write_object(root, "v", "000", range(3))
    (video,) = plan_evaluation(tmp_path / "gt", tmp_path / "pred")
    assert video.objects["000"].pred[0] == tmp_path / "pred/Annotations_6fps/v/000/00001.png"


def test_a_forced_sav_layout_on_one_folder_of_pngs_is_refused(tmp_path):
    for t in range(3):
        write_indexed(tmp_path / "gt" / f"{t:05d}.png", box(t))
    (tmp_path / "pred").mkdir()
    with pytest.raises(VideoInputError, match="holds no sequence folders"):
        plan_evaluation(tmp_path / "gt", tmp_path / "pred", layout="sav")


def test_an_object_shown_only_in_the_prediction_is_not_reported(tmp_path):
    """The GT decides which objects are scored: one whose GT is empty on the scored frames is
    left out even where the prediction shows it."""
    for kind in ("gt", "pred"):
        write_object(tmp_path / kind, "v", "000", range(4))
        write_object(tmp_path / kind, "v", "001", range(4), value=int(kind == "pred"))
    (video,), overall = score_sequences(plan_evaluation(tmp_path / "gt", tmp_path / "pred"),
                                       show_progress=False)
    assert list(video.objects) == ["000"] and overall.objects == 1 and overall.jf == 100.0


def test_a_predicted_video_may_hold_stray_pngs_beside_its_object_folders(tmp_path):
    for kind in ("gt", "pred"):
        write_object(tmp_path / kind, "v", "000", range(3))
    write_indexed(tmp_path / "pred" / "v" / "00000.png", box(0))  # not read
    (video,) = plan_evaluation(tmp_path / "gt", tmp_path / "pred")
    assert len(video.objects["000"].pred) == 1
