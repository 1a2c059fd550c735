"""Mutation audit (round 23) of run/checks.py's check_video_data: the check stage refuses a
data.root whose sequences are all shorter than data.num_frames and a data.val_root without a
sequence of 2 annotated frames, naming the key, before the model is built."""

import pytest
from omegaconf import OmegaConf

from samhq_train.data.image_files import DataError
from samhq_train.data.moving_shapes import write_moving_shapes
from samhq_train.run.checks import check_video_data


def clips(folder, frames):
    return write_moving_shapes(folder, num_videos=1, num_frames=frames, size=16, num_objects=1)


def test_sequences_shorter_than_num_frames_are_refused(tmp_path):
    root = clips(tmp_path / "train", 3)
    check_video_data(OmegaConf.create({"root": str(root), "num_frames": 3}))  # passes
    with pytest.raises(DataError, match=r"^data.root=.*no sequence has 4 annotated frames"):
        check_video_data(OmegaConf.create({"root": str(root), "num_frames": 4}))


def test_a_val_root_of_single_frames_is_refused(tmp_path):
    root, val = clips(tmp_path / "train", 3), clips(tmp_path / "val", 1)
    data = OmegaConf.create({"root": str(root), "num_frames": 2, "val_root": str(val)})
    with pytest.raises(DataError, match=r"^data.val_root=.*no sequence has 2 annotated frames"):
        check_video_data(data)
    check_video_data(OmegaConf.create({**data, "val_root": str(clips(tmp_path / "v2", 2))}))
