"""The video demo's writer (moving_shapes.ensure_moving_shapes, through write_once) writes only a
new, empty or its own root: a root holding the user's files is refused with them kept, one
written with other settings is rewritten whole, and a root of generator output without a marker
(an older writer stopped mid-way) is refused like the user's: the files alone cannot tell."""

import json

import pytest

from samhq_train.data import write_once as write_once_module
from samhq_train.data.image_files import DataError
from samhq_train.data.moving_shapes import MARKER, ensure_moving_shapes, write_moving_shapes

SETTINGS = {"num_videos": 1, "num_frames": 2, "size": 16, "num_objects": 1, "seed": 0}


@pytest.mark.parametrize("key", ["data.root", "data.val_root"])
def test_a_root_with_the_users_frame_is_refused_and_the_frame_kept(tmp_path, key):
    frame = tmp_path / "JPEGImages" / "clip" / "00000.jpg"
    frame.parent.mkdir(parents=True)
    frame.write_bytes(b"the user's frame")
    with pytest.raises(DataError) as refused:
        ensure_moving_shapes(tmp_path, key, **SETTINGS)
    assert str(refused.value).startswith(
        f"{key}={tmp_path} is not demo data made by samhq_train (it holds other files)")
    assert "data=video_folder" in str(refused.value)
    assert frame.read_bytes() == b"the user's frame"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["00000.jpg", "JPEGImages", "clip"]
    # no temporary of the writer beside it (pytest's own .lock sits there without xdist)
    temporary = f".{tmp_path.name}."
    assert [p.name for p in tmp_path.parent.iterdir() if p.name.startswith(temporary)] == []


def test_a_marker_with_other_settings_is_rewritten_whole(tmp_path):
    root = tmp_path / "train"
    ensure_moving_shapes(root, **{**SETTINGS, "num_videos": 2, "num_frames": 3})
    ensure_moving_shapes(root, **SETTINGS)
    assert json.loads((root / MARKER).read_text()) == SETTINGS
    assert sorted(p.name for p in (root / "JPEGImages").iterdir()) == ["shapes000"]
    assert sorted(p.name for p in (root / "Annotations" / "shapes000").iterdir()) == [
        "00000.png", "00001.png"]
    assert [p.name for p in tmp_path.iterdir()] == ["train"]  # no temporary left


def test_generator_output_without_a_marker_is_refused(tmp_path):
    write_moving_shapes(tmp_path, **SETTINGS)
    with pytest.raises(DataError, match="is not demo data made by samhq_train"):
        ensure_moving_shapes(tmp_path, **SETTINGS)
    assert not (tmp_path / MARKER).exists()


def test_a_stop_mid_write_leaves_no_half_set(tmp_path, monkeypatch):
    """The videos are written into a temporary folder and renamed into place: a stop before the
    rename leaves the root absent and no temporary beside it."""
    root = tmp_path / "train"

    def stopped(folder, **settings):
        (folder / "JPEGImages").mkdir()
        raise KeyboardInterrupt

    monkeypatch.setattr("samhq_train.data.moving_shapes.write_moving_shapes", stopped)
    with pytest.raises(KeyboardInterrupt):
        ensure_moving_shapes(root, **SETTINGS)
    assert list(tmp_path.iterdir()) == []


def test_the_marker_is_the_video_demos_not_the_image_demos(tmp_path):
    root = ensure_moving_shapes(tmp_path / "train", **SETTINGS)
    assert (root / MARKER).is_file() and not (root / write_once_module.MARKER).exists()
