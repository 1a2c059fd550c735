"""Exact resume under gradient accumulation: a signal that comes between the two batches of one
optimiser step is acted on at the step's end (a checkpoint in the middle of an accumulation would
lose the gradients gathered so far), mid-epoch, and the resumed run skips the epoch's trained
batches (counted in batches, not optimiser steps) and ends bitwise like a straight run."""

import os
import signal

import lightning as L
import pytest
import torch

from samhq_train.train import train
from tests.training.helpers import SMALL, assert_same_training_state, compose_cfg

# 12 samples in batches of 2: 6 batches an epoch, 3 optimiser steps of 2 batches each
DATA = [o for o in SMALL if not o.startswith("data.demo.num_train=")] + ["data.demo.num_train=12"]
COMMON = [
    *DATA,
    "trainer.max_epochs=2",
    "trainer.accumulate_grad_batches=2",
    "trainer.accelerator=cpu",
    "scheduler.step_size=1",
    "scheduler.gamma=0.5",
    "optimizer.lr=1e-3",
    "validate_before_training=false",
    "export=false",
]


class SignalOnceAtBatch(L.Callback):
    """SIGINT once, at the start of training batch `batch` of epoch `epoch`."""

    def __init__(self, epoch: int, batch: int) -> None:
        self.epoch, self.batch, self.sent = epoch, batch, False

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if not self.sent and (trainer.current_epoch, batch_idx) == (self.epoch, self.batch):
            self.sent = True
            os.kill(os.getpid(), signal.SIGINT)


class RecordBatches(L.Callback):
    """The images of every training batch this process trains on, in order."""

    seen: list[torch.Tensor] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        RecordBatches.seen.append(batch["image"].detach().clone())


def test_a_signal_mid_accumulation_resumes_exactly(tmp_path, data_root):
    record = ["+callbacks.record._target_=tests.training.test_resume_accumulation.RecordBatches"]
    RecordBatches.seen = []
    _, straight = train(compose_cfg(tmp_path / "straight", data_root, *COMMON, *record,
                                    small=False))
    straight_batches, RecordBatches.seen = RecordBatches.seen, []
    assert straight["trainer"].global_step == 6 and len(straight_batches) == 12
    send = [
        "+callbacks.stop._target_=tests.training.test_resume_accumulation.SignalOnceAtBatch",
        "+callbacks.stop.epoch=1",
        "+callbacks.stop.batch=2",  # the first half of epoch 1's second step
    ]
    with pytest.raises(SystemExit):
        train(compose_cfg(tmp_path / "stopped", data_root, *COMMON, *send, small=False))
    ckpt = tmp_path / "stopped" / "checkpoints" / "interrupted.ckpt"
    saved = torch.load(ckpt, map_location="cpu", weights_only=True)
    # at the end of that step (batch 3 of epoch 1), not between its two batches
    assert saved["global_step"] == 5
    RecordBatches.seen = []
    _, resumed = train(compose_cfg(tmp_path / "resumed", data_root, *COMMON, *record,
                                   f"ckpt_path={ckpt}", small=False))
    # the rest of epoch 1: its batches 4 and 5, the same samples and views as the straight run
    assert len(RecordBatches.seen) == 2
    assert all(torch.equal(a, b) for a, b in zip(RecordBatches.seen, straight_batches[-2:]))
    assert_same_training_state(straight, resumed)
