"""train(cfg) resumed: exact and mid-epoch resume equal a straight run; Ctrl+C and signals print the
checkpoint to resume from (and write one mid-epoch) and the resume command."""

import signal
import sys

import lightning as L
import pytest
import torch

from samhq_train.train import train
from tests.training.helpers import SHORT, RecordResume, assert_same_training_state, compose_cfg


@pytest.mark.parametrize(
    "workers",
    [
        0,
        1,
    ],
)
def test_exact_resume_matches_a_straight_run(tmp_path, data_root, workers):
    common = [
        *SHORT,
        "validate_before_training=false",
        "export=false",
        f"data.num_workers={workers}",
    ]
    _, straight = train(compose_cfg(tmp_path / "straight", data_root, *common))
    _, first = train(compose_cfg(tmp_path / "first", data_root, *common, "trainer.max_epochs=1"))
    last = tmp_path / "first" / "checkpoints" / "last.ckpt"
    _, resumed = train(compose_cfg(tmp_path / "resumed", data_root, *common, f"ckpt_path={last}"))
    assert resumed["trainer"].global_step == 4
    assert_same_training_state(straight, resumed)


def test_mid_epoch_resume_restores_step_and_lr(tmp_path, data_root):
    common = [
        *SHORT,
        "trainer.limit_train_batches=3",
        "validate_before_training=false",
        "export=false",
        "+callbacks.step_checkpoint._target_=lightning.pytorch.callbacks.ModelCheckpoint",
        f"+callbacks.step_checkpoint.dirpath={tmp_path}/steps",
        "+callbacks.step_checkpoint.every_n_train_steps=4",
        "+callbacks.step_checkpoint.save_top_k=-1",
        "+callbacks.step_checkpoint.filename='step{step}'",
        "+callbacks.step_checkpoint.auto_insert_metric_name=false",
    ]
    _, straight = train(compose_cfg(tmp_path / "straight", data_root, *common))
    ckpt = tmp_path / "steps" / "step4.ckpt"
    RecordResume.seen.clear()
    _, resumed = train(
        compose_cfg(
            tmp_path / "resumed",
            data_root,
            *common,
            f"ckpt_path={ckpt}",
            "+callbacks.record._target_=tests.training.helpers.RecordResume",
        )
    )
    assert RecordResume.seen == [{"step": 4, "epoch": 1, "lr": pytest.approx(1e-3 * 0.5)}]
    assert resumed["trainer"].global_step == straight["trainer"].global_step == 6
    final_lr = [t["trainer"].optimizers[0].param_groups[0]["lr"] for t in (straight, resumed)]
    assert final_lr == pytest.approx([1e-3 * 0.25] * 2)


class InterruptAt(L.Callback):
    """Raises KeyboardInterrupt (what Ctrl+C does) when training reaches global step `step`."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, *args) -> None:
        if trainer.global_step == self.step:
            raise KeyboardInterrupt


def test_interrupt_prints_the_last_checkpoint_and_the_resume_command(tmp_path, data_root, capsys):
    import signal

    handler = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit) as info:
            train(
                compose_cfg(
                    tmp_path,
                    data_root,
                    *SHORT,
                    "validate_before_training=false",
                    "export=false",
                    "+callbacks.stop._target_=tests.training.test_train_resume.InterruptAt",
                    "+callbacks.stop.step=3",
                )
            )
    finally:
        signal.signal(signal.SIGINT, handler)  # Lightning ignores SIGINT after an interrupt
    assert info.value.code == 130
    err = capsys.readouterr().err
    last = (tmp_path / "checkpoints" / "last.ckpt").resolve()
    assert (
        f"interrupted (SIGINT) during training at epoch 1, step 3; nothing new was saved, the "
        f"last checkpoint is {last}\nresume with: python train.py <your overrides> ckpt_path={last}"
    ) in err


@pytest.mark.parametrize(("signal_name", "workers"), [("SIGINT", 0), ("SIGTERM", 1)])
def test_a_signal_mid_epoch_writes_a_checkpoint_that_resumes_exactly(
    tmp_path, data_root, capsys, signal_name, workers
):
    common = [
        *SHORT,
        "trainer.limit_train_batches=3",
        "validate_before_training=false",
        "export=false",
        f"data.num_workers={workers}",
    ]
    send = [
        "+callbacks.stop._target_=tests.training.helpers.SignalAt",
        "+callbacks.stop.step=4",
        f"+callbacks.stop.signal={signal_name}",
    ]
    _, straight = train(compose_cfg(tmp_path / "straight", data_root, *common))
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with pytest.raises(SystemExit) as info:  # the signal comes during epoch 1's second step
        train(compose_cfg(tmp_path / "stopped", data_root, *common, *send))
    assert info.value.code == {"SIGINT": 130, "SIGTERM": 143}[signal_name]
    assert {s: signal.getsignal(s) for s in handlers} == handlers
    ckpt = (tmp_path / "stopped" / "checkpoints" / "interrupted.ckpt").resolve()
    err = capsys.readouterr().err
    assert (
        f"interrupted ({signal_name}) during training at epoch 1, step 5; saved: a checkpoint of "
        f"that position, {ckpt}\nresume with: python train.py <your overrides> ckpt_path={ckpt}"
    ) in err
    assert torch.load(ckpt, map_location="cpu", weights_only=True)["global_step"] == 5
    _, resumed = train(compose_cfg(tmp_path / "resumed", data_root, *common, f"ckpt_path={ckpt}"))
    assert straight["trainer"].global_step == 6
    assert_same_training_state(straight, resumed)


def test_resume_command_repeats_the_hydra_overrides(monkeypatch):
    """Every override of the launch, Hydra's own included, and hydra.run.dir = this run's
    folder (the launch's run-folder settings replaced): the resumed run continues there."""
    from samhq_train.training import resume

    overrides = ["data.root=/my data", "ckpt_path=old.ckpt", "seed=1"]
    hydra = ["hydra.run.dir=old/${now:%H}", "hydra.mode=RUN", "hydra.job.chdir=true"]
    monkeypatch.setattr(resume, "launch_overrides", lambda: overrides)
    hydra.append("hydra.output_subdir=.hydra/resumed-1")  # this launch was a resume itself
    monkeypatch.setattr(resume, "launch_settings", lambda: (hydra, "/runs/a b", None, True))
    monkeypatch.setattr(sys, "argv", ["train.py"])
    assert resume.resume_command("/r/last.ckpt") == (
        "python train.py 'data.root=/my data' seed=1 hydra.job.chdir=true "
        "'hydra.run.dir=/runs/a b' hydra.output_subdir=.hydra/resumed-1 ckpt_path=/r/last.ckpt"
    )
    monkeypatch.setattr(sys, "argv", ["/venv/bin/samhq-train"])  # the installed command
    assert resume.resume_command("/r/last.ckpt").startswith("samhq-train 'data.root=/my data'")
    monkeypatch.setattr(resume, "launch_settings", lambda: (hydra, "/runs/a", "my_train", False))
    command = resume.resume_command("/r/last.ckpt")
    assert " --config-name=my_train 'data.root" in command
    assert " hydra.output_subdir=null " in command  # no .hydra/ record, as the launch
