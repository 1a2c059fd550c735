"""The video demo's data writes its moving-shapes videos under data.root and data.val_root on
first use; run without validation (data.val_root=null) it writes the training videos alone (it
made Path(None) of the missing val_root: a TypeError after the model was built)."""

from hydra import compose, initialize_config_dir

from samhq_train.config_defaults import CONFIG_DIR
from samhq_train.data.moving_shapes import write_moving_shapes
from samhq_train.training.video import run as video_run


def test_the_demo_data_without_validation_writes_and_reads_the_training_videos(
        tmp_path, monkeypatch):
    root = write_moving_shapes(tmp_path / "train", num_videos=2, num_frames=5, size=64,
                               num_objects=2)
    written = []
    monkeypatch.setattr(video_run, "ensure_moving_shapes",
                        lambda folder, **shapes: written.append(folder))
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=video_demo", f"data.root={root}",
                                          "data.val_root=null", "data.val_sequences=null",
                                          "data.val_max_frames=null"])
    train, val = video_run.video_loaders(cfg, image_size=64)
    assert [str(folder) for folder in written] == [str(root)] and val is None
    assert len(train.dataset) > 0
