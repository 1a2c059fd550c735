"""Exact resume of video fine-tuning: a 2-epoch run stopped after its first epoch (as if killed
there) and resumed from last.ckpt with the same settings ends bit for bit as the uninterrupted
run (weights, AdamW state, schedule). The torch
global generator draws the clip order, the clips, box noise, clicks and dropout; without its
state in the checkpoint the resumed run draws others."""

import pytest
import torch

from samhq_train.data.moving_shapes import write_moving_shapes
from samhq_train.train import train
from samhq_train.training.video.module import VideoTrainModule
from tests.training.video.test_video_run import video_cfg

COMMON = ["data.val_root=null", "export=false", "validate_before_training=false",
          "trainer.limit_train_batches=2", "video.freeze_image_encoder=true",
          "video.prompts.prob_to_use_pt_input=1.0", "video.prompts.prob_to_use_box_input=0.5"]


def assert_same_state(a: dict, b: dict) -> None:
    assert a["trainer"].global_step == b["trainer"].global_step
    weights_a, weights_b = a["model"].state_dict(), b["model"].state_dict()
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    opt_a = a["trainer"].optimizers[0].state_dict()
    opt_b = b["trainer"].optimizers[0].state_dict()
    assert opt_a["param_groups"] == opt_b["param_groups"]
    for i, state in opt_a["state"].items():
        assert all(torch.equal(state[k], opt_b["state"][i][k]) for k in state)
    sched_a = a["trainer"].lr_scheduler_configs[0].scheduler.state_dict()
    assert sched_a == b["trainer"].lr_scheduler_configs[0].scheduler.state_dict()


@pytest.mark.slow
def test_resumed_run_equals_the_uninterrupted_run(tmp_path, monkeypatch):
    root = write_moving_shapes(tmp_path / "shapes", num_videos=3, num_frames=5, size=64,
                               num_objects=2)
    _, straight = train(video_cfg(tmp_path / "straight", root, *COMMON, "trainer.max_epochs=2"))
    with monkeypatch.context() as patch:  # the run stops after epoch 1 (last.ckpt written)
        patch.setattr(VideoTrainModule, "on_train_epoch_end",
                      lambda self: setattr(self.trainer, "should_stop", True), raising=False)
        _, first = train(video_cfg(tmp_path / "first", root, *COMMON, "trainer.max_epochs=2"))
    assert first["trainer"].global_step == 2
    last = tmp_path / "first" / "checkpoints" / "last.ckpt"
    _, resumed = train(video_cfg(tmp_path / "resumed", root, *COMMON, "trainer.max_epochs=2",
                                 f"ckpt_path={last}"))
    assert resumed["trainer"].global_step == 4
    assert_same_state(straight, resumed)
