"""data.val_sequences / data.val_max_frames choose what validation reads of data.val_root: set
without a val_root (no validation) they would be ignored in silence, and a count below 1 would
misread (val_sequences=-1: all but the last), so each is refused in one line naming the key,
before the model is built; as is data.multiplier=0 (an epoch of no clips)."""

import pytest

from samhq_train.errors import UserError
from samhq_train.train import train
from samhq_train.training.video import run as video_run

from .test_video_run import shapes, video_cfg  # noqa: F401 (the fixture)


@pytest.mark.parametrize("key, does", [("val_sequences", "keeps the first 2 sequences"),
                                       ("val_max_frames", "keeps the first 2 frames of each")])
def test_a_val_setting_without_a_val_root_is_refused(tmp_path, shapes, no_model, key, does):  # noqa: F811
    other = "val_max_frames" if key == "val_sequences" else "val_sequences"
    cfg = video_cfg(tmp_path, shapes, "data.val_root=null", f"data.{key}=2", f"data.{other}=null")
    with pytest.raises(UserError) as info:
        train(cfg)
    assert str(info.value) == (
        f"data.{key}=2 {does} of data.val_root, which is not set (no validation): set "
        f"data.val_root=/path/to/val, or data.{key}=null"
    )


@pytest.mark.parametrize("setting, says", [
    ("data.val_sequences=0", "must be a whole number, at least 1 (null: all)"),
    ("data.val_max_frames=-1", "must be a whole number, at least 1 (null: all)"),
    ("data.val_sequences=1.5", "must be a whole number, at least 1 (null: all)"),
    ("data.multiplier=0", "must be at least 1"),
])
def test_a_count_below_one_is_refused(tmp_path, shapes, no_model, setting, says):  # noqa: F811
    with pytest.raises(UserError) as info:
        train(video_cfg(tmp_path, shapes, setting))
    assert str(info.value) == f"{setting}: {says}"


def test_validation_left_off_whole_is_taken(tmp_path, shapes):  # noqa: F811
    cfg = video_cfg(tmp_path, shapes, "data.val_root=null", "data.val_sequences=null",
                    "data.val_max_frames=null")
    video_run.check_video_config(cfg)  # passes
