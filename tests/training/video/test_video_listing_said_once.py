"""A video run lists data.root and data.val_root once: at the check stage (run/checks.py
check_video_data, for its refusals), which hands its listings to the run's loaders
(training/video/run.py video_loaders) through samhq-train's run and train(); a root of YouTube-VOS
or SA-V size is thousands of sequences. The frames without a mask and the sequences skipped are
said once, by the loaders."""

import logging
import os

from hydra import compose, initialize_config_dir

from samhq_train import train as train_module
from samhq_train.cli import train as train_command
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


def _cfg(root, out):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("train", overrides=["experiment=video_finetune", f"data.root={root}",
                                           f"data.val_root={root}", "data.num_frames=3",
                                           "data.num_workers=0", f"paths.output_dir={out}"])


def _folders_listed(monkeypatch, call) -> list[str]:
    listed, real = [], os.scandir

    def spied(path="."):
        listed.append(str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", spied)
    call()
    monkeypatch.setattr(os, "scandir", real)
    return listed


def test_frames_left_out_and_sequences_skipped_are_said_once(tmp_path, caplog):
    root = _root_with_gaps(tmp_path / "clips")
    cfg = _cfg(root, tmp_path / "out")
    with caplog.at_level(logging.INFO, logger="samhq_train"):
        listed = check_video_data(cfg.data)
        video_run.video_loaders(cfg, image_size=32, listed=listed)
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


def test_the_loaders_take_the_check_stages_listings_without_listing_again(tmp_path, monkeypatch):
    root = _root_with_gaps(tmp_path / "clips")
    cfg = _cfg(root, tmp_path / "out")
    listed = check_video_data(cfg.data)
    assert set(listed) == {"data.root", "data.val_root"}
    again = _folders_listed(monkeypatch, lambda: video_run.video_loaders(cfg, 32, listed=listed))
    assert again == []
    alone = _folders_listed(monkeypatch, lambda: video_run.video_loaders(cfg, 32))
    assert str(root / "Annotations" / "shapes000") in alone  # without them: listed again


def test_samhq_train_and_train_hand_the_listings_to_the_video_run(tmp_path, monkeypatch):
    root = _root_with_gaps(tmp_path / "clips")
    cfg = _cfg(root, tmp_path / "out")
    handed = {}

    def video_run_stand_in(cfg, build_loggers=None, checked=False, listed=None):
        handed["train_video"] = listed
        return {}, {}

    monkeypatch.setattr(train_module, "train_video", video_run_stand_in)
    train_module.train(cfg)  # checks first: check_inputs' listings handed on
    assert set(handed.pop("train_video")) == {"data.root", "data.val_root"}

    def train_stand_in(cfg, checked=False, listed=None):
        handed["train"] = (checked, listed)

    monkeypatch.setattr(train_module, "train", train_stand_in)
    train_command.run(cfg)  # samhq-train: check_inputs, then train(cfg, checked=True, ...)
    checked, listed = handed["train"]
    assert checked and listed["data.root"].sequences[0].name == "shapes000"
