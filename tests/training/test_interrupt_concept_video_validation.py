"""A signal in the in-fit validation of a concept or a video fine-tuning run stops it as it stops
the image run's (tests/training/test_stopping.py): after the running validation batch, with
checkpoints/interrupted.ckpt marked to run that validation again, the report naming it, exit 143
for SIGTERM (130 for SIGINT), no traceback, the signal handlers given back."""

import signal

import pytest
import torch

from samhq_train.data.moving_shapes import write_moving_shapes
from samhq_train.train import train
from samhq_train.training.checkpointing import last_and_best
from samhq_train.training.interrupt import VAL_PROGRESS
from tests.training.concept.concept_run import concept_cfg, concept_files  # noqa: F401 (fixture)
from tests.training.test_stopping import SignalInValidation
from tests.training.video.test_video_run import video_cfg

CONCEPT = ["export=false", "data.val_batch_size=1"]  # 2 validation batches
VIDEO = ["export=false", "validate_before_training=false", "trainer.limit_train_batches=1",
         "video.freeze_image_encoder=true"]  # 2 validation videos: 2 batches


def _signal_in_validation(monkeypatch, run_module: str, signal_name: str) -> SignalInValidation:
    sender = SignalInValidation(epoch=0, signal=signal_name)
    monkeypatch.setattr(f"{run_module}.last_and_best",
                        lambda *args: [*last_and_best(*args), sender])
    return sender


def _assert_stopped_in_validation(info, err, handlers, out, signal_name: str, status: int):
    assert info.value.code == status, err
    assert "Traceback" not in err
    assert {s: signal.getsignal(s) for s in handlers} == handlers
    ckpt = (out / "checkpoints" / "interrupted.ckpt").resolve()
    assert (
        f"interrupted ({signal_name}) during the validation of epoch 0 at epoch 0, step 1; saved: "
        f"a checkpoint of that position, {ckpt} (resuming runs that validation again)"
    ) in err, err
    loops = torch.load(ckpt, map_location="cpu", weights_only=False)["loops"]
    progress = loops["fit_loop"][VAL_PROGRESS]["current"]
    assert progress["started"] == progress["completed"] + 1  # the validation runs again


def test_sigterm_in_a_concept_validation_writes_a_checkpoint(
    tmp_path, monkeypatch, capsys, keep_handlers, concept_files  # noqa: F811
):
    sender = _signal_in_validation(monkeypatch, "samhq_train.training.concept.run", "SIGTERM")
    with pytest.raises(SystemExit) as info:
        train(concept_cfg(tmp_path, concept_files, *CONCEPT, "trainer.limit_train_batches=1"))
    err = capsys.readouterr().err
    _assert_stopped_in_validation(info, err, keep_handlers, tmp_path, "SIGTERM", 143)
    assert sender.batches_after == 0  # the second validation batch never ran


def test_ctrl_c_in_a_video_validation_writes_a_checkpoint(
    tmp_path, monkeypatch, capsys, keep_handlers
):
    root = write_moving_shapes(tmp_path / "shapes", num_videos=2, num_frames=5, size=64,
                               num_objects=2)
    sender = _signal_in_validation(monkeypatch, "samhq_train.training.video.run", "SIGINT")
    with pytest.raises(SystemExit) as info:
        train(video_cfg(tmp_path / "run", root, *VIDEO))
    err = capsys.readouterr().err
    _assert_stopped_in_validation(info, err, keep_handlers, tmp_path / "run", "SIGINT", 130)
    assert sender.batches_after == 0
