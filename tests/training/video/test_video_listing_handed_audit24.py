"""train_video hands the check stage's listings to its loaders (video_loaders), the last link
from samhq-train's check stage to the datasets (a root of SA-V size is listed once a run)."""

import pytest

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
