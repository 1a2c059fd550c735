"""data.root / data.val_root of video fine-tuning as a user gets them wrong: the one-line error
names the key that was set (data.val_root, not data.root) and says what is true of the path (a
file, a missing folder), and asks for what fixes it."""

import pytest
from omegaconf import OmegaConf

from samhq_train.data.image_files import DataError
from samhq_train.training.video.run import video_loaders
from tests.data.test_video_clip_folders import write_sequence


def _loaders(train_root, val_root):
    data = {"root": str(train_root), "val_root": str(val_root or ""), "num_frames": 2,
            "max_num_objects": 1, "batch_size": 1, "augmentation": None}
    return video_loaders(OmegaConf.create({"data": data}), image_size=16)


@pytest.mark.parametrize(
    ("val", "says"),
    [("notes.txt", "a file, not a folder; give a root of JPEGImages"),
     ("gone", "folder not found; give a root of JPEGImages"),
     ("one_frame", "no sequence has 2 annotated frames (a frame and a mask PNG of the same "
                   "name); add frames")],
)
def test_a_bad_val_root_is_named_as_data_val_root(tmp_path, val, says):
    train = write_sequence(tmp_path / "train", "seq", 3)
    write_sequence(tmp_path / "one_frame", "seq", 1)
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(DataError) as info:
        _loaders(train, tmp_path / val)
    assert str(info.value).startswith(f"data.val_root={tmp_path / val}: {says}")


def test_a_file_as_data_root_says_so(tmp_path):
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(DataError, match=r"^data.root=\S+notes.txt: a file, not a folder; give "):
        _loaders(tmp_path / "notes.txt", tmp_path)


@pytest.mark.parametrize("entry", ["JPEGImages/seq/00001.jpg", "Annotations/seq/00001.png"])
def test_a_frame_or_mask_that_is_no_file_is_refused_before_training(tmp_path, entry):
    train = write_sequence(tmp_path / "train", "seq", 3)
    odd = train / entry
    odd.unlink()
    odd.symlink_to(tmp_path / "gone")
    with pytest.raises(DataError, match=rf"^{odd}: a broken link, "
                       "among the frames of sequence seq; move it out of the folder$"):
        _loaders(train, "")
