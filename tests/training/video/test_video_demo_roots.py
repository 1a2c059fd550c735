"""experiment=video_demo at a data.root (or data.val_root) holding the user's own clips: the check
stage refuses that root before anything is written, by the demo's writer's own rule
(write_once.check_generated_root, which moving_shapes.ensure_moving_shapes applies too)."""

import pytest
from hydra import compose, initialize_config_dir

from samhq_train.config_defaults import CONFIG_DIR
from samhq_train.data.image_files import DataError
from samhq_train.data.moving_shapes import ensure_moving_shapes
from samhq_train.run.checks import check_video_data


def _demo_data(tmp_path, root, val_root):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=video_demo",
                                          f"paths.output_dir={tmp_path / 'out'}",
                                          f"data.root={root}", f"data.val_root={val_root}"])
    return cfg.data


@pytest.mark.parametrize("key", ["root", "val_root"])
def test_the_users_clips_are_refused_not_replaced(tmp_path, key):
    """Mutant: check_video_data returning for the demo without checking its roots (passes)."""
    mine = tmp_path / "mine"
    (mine / "JPEGImages" / "clip").mkdir(parents=True)
    (mine / "JPEGImages" / "clip" / "00000.jpg").write_bytes(b"the user's frame")
    roots = {"root": tmp_path / "train", "val_root": tmp_path / "val", key: mine}
    with pytest.raises(DataError) as err:
        check_video_data(_demo_data(tmp_path, roots["root"], roots["val_root"]))
    assert str(err.value).startswith(
        f"data.{key}={mine} is not demo data made by samhq_train (it holds other files)")
    assert "data=video_folder" in str(err.value)
    assert (mine / "JPEGImages" / "clip" / "00000.jpg").read_bytes() == b"the user's frame"


def test_the_demos_own_roots_and_new_ones_pass(tmp_path):
    written = ensure_moving_shapes(tmp_path / "train", num_videos=1, num_frames=2, size=32,
                                   num_objects=1, seed=0)
    empty = tmp_path / "empty"
    empty.mkdir()
    check_video_data(_demo_data(tmp_path, written, tmp_path / "new"))
    check_video_data(_demo_data(tmp_path, empty, written))
