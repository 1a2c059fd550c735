"""Ctrl+C in a concept or a video fine-tuning run stops it as it stops image training
(training/interrupt.py, resume.py): checkpoints/interrupted.ckpt of the position reached, the
report naming it with the resume command, exit 130, the signal handlers given back; the concept
run's checkpoint resumes (ckpt_path=) to the end of the run."""

import signal

import pytest
import torch

from samhq_train.data.moving_shapes import write_moving_shapes
from samhq_train.train import train
from samhq_train.training.checkpointing import last_and_best
from tests.training.concept.concept_run import concept_cfg, concept_files  # noqa: F401 (fixture)
from tests.training.helpers import SignalAt
from tests.training.video.test_video_run import video_cfg

CONCEPT = ["data.val_split=null", "export=false", "trainer.max_epochs=2"]  # 2 steps an epoch
VIDEO = ["data.val_root=null", "export=false", "validate_before_training=false",
         "trainer.limit_train_batches=2", "video.freeze_image_encoder=true"]



def _ctrl_c_at(monkeypatch, run_module: str, step: int) -> None:
    """Ctrl+C (SIGINT to this process) when training starts global step `step`: SignalAt after
    the run's checkpoint callbacks."""
    monkeypatch.setattr(f"{run_module}.last_and_best",
                        lambda *args: [*last_and_best(*args), SignalAt(step)])


def _assert_stopped_with_checkpoint(info, err, handlers, out, step: int):
    assert info.value.code == 130
    assert {s: signal.getsignal(s) for s in handlers} == handlers
    ckpt = (out / "checkpoints" / "interrupted.ckpt").resolve()
    assert (
        f"interrupted (SIGINT) during training at epoch 0, step {step}; saved: a checkpoint of "
        f"that position, {ckpt}\nresume with: python train.py <your overrides> ckpt_path={ckpt}"
    ) in err
    assert torch.load(ckpt, map_location="cpu", weights_only=True)["global_step"] == step
    return ckpt


def test_ctrl_c_in_a_concept_run_writes_a_checkpoint_that_resumes(
    tmp_path, monkeypatch, capsys, keep_handlers, concept_files  # noqa: F811
):
    with monkeypatch.context() as patch:
        _ctrl_c_at(patch, "samhq_train.training.concept.run", step=1)
        with pytest.raises(SystemExit) as info:  # the signal comes in epoch 0's second step
            train(concept_cfg(tmp_path / "stopped", concept_files, *CONCEPT))
    err = capsys.readouterr().err
    ckpt = _assert_stopped_with_checkpoint(info, err, keep_handlers, tmp_path / "stopped", 2)
    assert "graceful shutdown" not in err
    _, resumed = train(concept_cfg(tmp_path / "resumed", concept_files, *CONCEPT,
                                   f"ckpt_path={ckpt}"))
    assert resumed["trainer"].global_step == 4  # epoch 1 trained after the restored epoch 0
    assert (tmp_path / "resumed" / "checkpoints" / "last.ckpt").is_file()


def test_ctrl_c_in_a_video_run_writes_a_checkpoint(tmp_path, monkeypatch, capsys, keep_handlers):
    root = write_moving_shapes(tmp_path / "shapes", num_videos=2, num_frames=5, size=64,
                               num_objects=2)
    _ctrl_c_at(monkeypatch, "samhq_train.training.video.run", step=0)
    with pytest.raises(SystemExit) as info:  # the signal comes in the first step: saved after it
        train(video_cfg(tmp_path / "stopped", root, *VIDEO))
    err = capsys.readouterr().err
    _assert_stopped_with_checkpoint(info, err, keep_handlers, tmp_path / "stopped", 1)
    assert "graceful shutdown" not in err
