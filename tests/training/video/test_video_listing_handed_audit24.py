"""train_video hands the check stage's listings to its loaders (video_loaders), the last link
from samhq-train's check stage to the datasets (a root of SA-V size is listed once a run)."""

import pytest

from samhq_train.data.image_files import DataError
from samhq_train.data.moving_shapes import write_moving_shapes
from samhq_train.data.video_clips import VideoClipDataset
from samhq_train.run.checks import check_video_data
from samhq_train.training.video import run as video_run
from tests.training.video.test_video_listing_said_once import _cfg, _root_with_gaps


class _Stop(Exception):
    pass


def test_train_video_hands_its_listings_to_the_loaders(tmp_path, monkeypatch):
    root = _root_with_gaps(tmp_path / "clips")
    cfg = _cfg(root, tmp_path / "out")
    listed = check_video_data(cfg.data)
    handed = []

    def loaders_stand_in(cfg, image_size, processes=1, listed=None):
        handed.append(listed)
        raise _Stop

    monkeypatch.setattr(video_run, "video_loaders", loaders_stand_in)
    with pytest.raises(_Stop):
        video_run.train_video(cfg, listed=listed)
    assert handed == [listed]


def test_the_check_stage_lists_data_val_root_itself(tmp_path):
    """data.val_root's refusals come before the model is built, from its own listing."""
    root = _root_with_gaps(tmp_path / "clips")
    val = write_moving_shapes(tmp_path / "val", num_videos=1, num_frames=3, size=32, num_objects=1)
    cfg = _cfg(root, tmp_path / "out")
    cfg.data.val_root = str(val)
    assert check_video_data(cfg.data)["data.val_root"].root == val
    cfg.data.val_root = str(tmp_path / "absent")
    with pytest.raises(DataError, match=r"^data.val_root=.*absent: "):
        check_video_data(cfg.data)


def test_a_clip_dataset_keeps_the_sequences_long_enough_for_its_clips(tmp_path):
    root = _root_with_gaps(tmp_path / "clips")  # shapes000: 4 annotated frames, shapes001: 1
    for frames, kept in ((4, ["shapes000"]), (2, ["shapes000"])):
        data = VideoClipDataset(root, image_size=32, num_frames=frames)
        assert [s.name for s in data.sequences] == kept
    with pytest.raises(DataError, match="no sequence has 5 annotated frames"):
        VideoClipDataset(root, image_size=32, num_frames=5)
