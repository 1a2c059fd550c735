"""A video run lists data.root and data.val_root twice: at the check stage (run/checks.py
check_video_data, for its refusals) and in its loaders (training/video/run.py video_loaders).
The frames without a mask and the sequences skipped are said once, by the loaders."""

import logging

from hydra import compose, initialize_config_dir

from samhq_train.config_defaults import CONFIG_DIR
from samhq_train.data.moving_shapes import write_moving_shapes
from samhq_train.run.checks import check_video_data
from samhq_train.training.video import run as video_run


def _root_with_gaps(folder):
    """Two sequences of 5 frames: shapes000 with its last mask gone (a frame without a mask),
    shapes001 with a single mask (too short for any clip)."""
    root = write_moving_shapes(folder, num_videos=2, num_frames=5, size=32, num_objects=1)
    (root / "Annotations" / "shapes000" / "00004.png").unlink()
    for t in range(1, 5):
        (root / "Annotations" / "shapes001" / f"{t:05d}.png").unlink()
    return root


def test_frames_left_out_and_sequences_skipped_are_said_once(tmp_path, caplog):
    root = _root_with_gaps(tmp_path / "clips")
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=video_finetune", f"data.root={root}",
                                          f"data.val_root={root}", "data.num_frames=3",
                                          "data.num_workers=0"])
    with caplog.at_level(logging.INFO, logger="samhq_train"):
        check_video_data(cfg.data)
        video_run.video_loaders(cfg, image_size=32)
    said = [r.getMessage() for r in caplog.records]
    expected = [
        f"{root}: 1 frames without a mask left out of 1 sequences' clips (a clip is 3 "
        "consecutive annotated frames)",
        "1 sequence(s) with fewer than 3 annotated frames skipped: shapes001",
        f"{root}: 1 frames without a mask left out of 1 sequences' clips (a clip is 2 "
        "consecutive annotated frames)",
        "1 sequence(s) with fewer than 2 annotated frames skipped: shapes001",
    ]
    for line in expected:
        assert said.count(line) == 1, (line, said)
