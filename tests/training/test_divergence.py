"""#19 items 2-3 in training: the first non-finite loss or gradient stops the run in one line
(exit 2), checkpoints of non-finite weights are refused, and a full disk while a checkpoint is
written is one line with the resume command, the previous checkpoint intact."""

import errno
import os
import sys
import types

import lightning as L
import pytest
import torch

from samhq_train.errors import exit_on_user_error
from samhq_train.files import DiskFullError
from samhq_train.finite import NonFiniteError, non_finite_names
from samhq_train.train import train
from samhq_train.training.checkpointing import AtomicCheckpointIO
from samhq_train.training.divergence import check_gradients, check_loss
from tests.ddp_launch import run_launch
from tests.training.helpers import ROOT, SMALL, TINY, compose_cfg, hq_weights
from tests.training.stand_in_group import StandInGroup

QUICK = [
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=2",
    "trainer.limit_val_batches=1",
    "validate_before_training=false",
    "export=false",
]


def test_a_diverging_run_stops_at_the_first_non_finite_loss(tmp_path, data_root, capsys):
    cfg = compose_cfg(tmp_path, data_root, *QUICK, "optimizer.lr=1e6")
    with pytest.raises(SystemExit) as info:
        exit_on_user_error(train)(cfg)
    assert info.value.code == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1
    assert lines[0].startswith("error: training diverged at epoch 0, step ")
    assert ": the loss is " in lines[0] or ": the gradient of " in lines[0]
    assert "lower optimizer.lr (now 1e+06) or set trainer.gradient_clip_val (e.g. 1.0)" in lines[0]
    assert not (tmp_path / "checkpoints").exists()  # nothing diverged was written


class NanGradient(L.Callback):
    """Puts a NaN into the gradient of `name` after the first backward pass."""

    def __init__(self, name: str) -> None:
        self.name = name

    def on_after_backward(self, trainer, pl_module) -> None:
        if trainer.global_step == 0:
            grad = pl_module.model.get_parameter(self.name).grad
            grad.view(-1)[0] = float("nan")


@pytest.mark.parametrize("accumulate", [1, 2])
def test_a_non_finite_gradient_stops_before_the_optimizer_step(
    tmp_path, data_root, accumulate
):
    name = "mask_decoder.hf_token.weight"
    cfg = compose_cfg(
        tmp_path, data_root, *QUICK,
        f"trainer.accumulate_grad_batches={accumulate}",
        "+callbacks.nan._target_=tests.training.test_divergence.NanGradient",
        f"+callbacks.nan.name={name}",
    )
    before = None

    class Record(L.Callback):
        def on_train_start(self, trainer, pl_module):
            nonlocal before
            before = hq_weights(pl_module.model)

    with pytest.raises(NonFiniteError) as info:
        train_with(cfg, Record())
    assert str(info.value).startswith(
        f"training diverged at epoch 0, step 0: the gradient of {name} holds nan; "
    )
    assert before is not None
    # the optimiser never applied it (with accumulation: checked once both micro-batches are in)
    assert all(torch.equal(before[k], v) for k, v in hq_weights(LAST["model"]).items())


LAST: dict = {}


def train_with(cfg, *callbacks):
    """train(cfg) with extra callbacks (kept in LAST["model"] for a look after an error)."""
    import samhq_train.train as train_module

    build = train_module.build_callbacks

    def with_extra(*args, **kwargs):
        return [*build(*args, **kwargs), *callbacks]

    original_module = train_module.build_module

    def keep(*args, **kwargs):
        module = original_module(*args, **kwargs)
        LAST["model"] = module.model
        return module

    train_module.build_callbacks, train_module.build_module = with_extra, keep
    try:
        return train(cfg)
    finally:
        train_module.build_callbacks, train_module.build_module = build, original_module


def fake_trainer(*, world_size=1, precision="32-true", scaler=None, clip=None):
    opt = types.SimpleNamespace(param_groups=[{"lr": 1e-3}])
    return types.SimpleNamespace(
        world_size=world_size,
        precision_plugin=types.SimpleNamespace(scaler=scaler),
        precision=precision,
        gradient_clip_val=clip,
        optimizers=[opt],
        current_epoch=3,
        global_step=41,
    )


def test_under_ddp_every_process_stops_when_one_has_a_non_finite_loss(monkeypatch):
    loss = torch.tensor(0.5)
    # another process had inf: [loss, processes whose batch failed to load]
    StandInGroup(monkeypatch, other=lambda tensor: torch.tensor([float("inf"), 0.0]))
    with pytest.raises(NonFiniteError, match=r"epoch 3, step 41: the loss is inf on another proc"):
        check_loss(fake_trainer(world_size=2), loss)
    assert loss.item() == 0.5  # the loss itself is left alone
    StandInGroup(monkeypatch)
    check_loss(fake_trainer(world_size=2), loss)  # all finite


def test_gradient_check_under_mixed_precision():
    model = torch.nn.Linear(2, 2)
    model.weight.grad = torch.full((2, 2), float("inf"))
    # fp16: the gradient scaler skips such a step and lowers its scale
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    check_gradients(fake_trainer(precision="16-mixed", scaler=object()), model, optimizer)
    with pytest.raises(NonFiniteError) as info:  # bf16 has no scaler
        check_gradients(fake_trainer(precision="bf16-mixed", clip=0.5), model, optimizer)
    assert "the gradient of weight holds inf; nothing was written" in str(info.value)
    assert str(info.value).endswith(
        "lower optimizer.lr (now 0.001), lower trainer.gradient_clip_val (now 0.5) or use "
        "trainer.precision=32 (now bf16-mixed), then run again"
    )


def test_non_finite_names_finds_nan_and_inf_without_overflow():
    tensors = {
        "fine": torch.ones(3),
        "huge": torch.full((100,), 3e38),  # its 2-norm overflows; it is finite
        "nan": torch.tensor([1.0, float("nan")]),
        "half": torch.tensor([float("-inf")], dtype=torch.float16),
        "steps": torch.tensor([3]),
    }
    assert non_finite_names(tensors) == ["nan", "half"]
    assert non_finite_names({"a": torch.zeros(2)}) == []


def test_a_checkpoint_of_non_finite_weights_is_refused_and_the_good_one_kept(tmp_path):
    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint({"state_dict": {"model.w": torch.ones(3)}, "step": 1}, path)
    good = path.read_bytes()
    bad = {"state_dict": {"model.w": torch.tensor([1.0, float("nan"), 2.0])}, "step": 2}
    with pytest.raises(NonFiniteError) as info:
        io.save_checkpoint(bad, path)
    assert str(info.value).startswith(
        f"not writing the checkpoint {path}: the weight model.w holds nan, the run "
        "diverged; the previous last.ckpt is intact: lower optimizer.lr"
    )
    assert path.read_bytes() == good and os.listdir(tmp_path) == ["last.ckpt"]


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598"),
    ],
)
def test_a_full_disk_during_a_checkpoint_write_keeps_the_previous_one(tmp_path, monkeypatch, error):
    io = AtomicCheckpointIO()
    path = tmp_path / "last.ckpt"
    io.save_checkpoint({"state_dict": {"model.w": torch.ones(3)}, "step": 1}, path)
    good = path.read_bytes()
    monkeypatch.setattr(torch, "save", _partial_save(error))
    with pytest.raises(DiskFullError) as info:
        io.save_checkpoint({"state_dict": {"model.w": torch.ones(1000)}, "step": 2}, path)
    assert f"writing {path}: it needs about 4.0 kB, " in str(info.value)
    assert "the previous last.ckpt is intact" in str(info.value)
    assert path.read_bytes() == good and os.listdir(tmp_path) == ["last.ckpt"]


def _partial_save(error, when=lambda tmp: True):
    real = torch.save

    def save(obj, f, *args, **kwargs):
        if not when(str(f)):
            return real(obj, f, *args, **kwargs)
        with open(f, "wb") as handle:
            handle.write(b"PK" * 100)
        raise error

    return save


def test_a_full_disk_in_training_prints_the_resume_command(
    tmp_path, data_root, monkeypatch, capsys
):
    last = tmp_path / "checkpoints" / "last.ckpt"
    # epoch 0's last.ckpt is written; the disk is full when epoch 1 replaces it
    monkeypatch.setattr(torch, "save", _partial_save(
        RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598"),
        when=lambda tmp: os.path.basename(tmp).startswith(".last.ckpt.") and last.is_file(),
    ))
    with pytest.raises(SystemExit) as info:
        exit_on_user_error(train)(compose_cfg(tmp_path, data_root, *QUICK))
    assert info.value.code == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1
    assert lines[0].startswith(
        f"error: the write came short (a full disk or quota) writing {last}: it needs about "
    )
    assert "; the previous last.ckpt is intact (nothing replaced it): free some space" in lines[0]
    assert lines[0].endswith(
        f"; resume with: python train.py <your overrides> ckpt_path={last.resolve()}"
    )
    monkeypatch.undo()
    assert torch.load(last, weights_only=True)["epoch"] == 0  # epoch 0's checkpoint, whole
    assert not [p for p in os.listdir(last.parent) if p.endswith(".tmp")]


class NanLossOnRank(L.Callback):
    """Makes the loss of global rank `rank` NaN at global step `step` (in place, before
    backward): the other process sees a finite loss."""

    def __init__(self, rank: int, step: int) -> None:
        self.rank, self.step = rank, step

    def on_before_backward(self, trainer, pl_module, loss) -> None:
        if trainer.global_rank == self.rank and trainer.global_step == self.step:
            loss.detach().fill_(float("nan"))


@pytest.mark.slow
def test_a_nan_loss_on_one_ddp_process_stops_both(tmp_path, data_root):
    """Rank 1 alone has a NaN loss: both processes stop at that step (no hang in the gradients'
    all-reduce), the run exits 2 with one error line."""
    out = tmp_path / "run"
    command = [
        sys.executable, "train.py", "trainer=ddp_sim", f"hydra.run.dir={out}",
        f"paths.output_dir={out}", f"data.root={data_root}", *SMALL, *TINY, *QUICK,
        "+callbacks.nan._target_=tests.training.test_divergence.NanLossOnRank",
        "+callbacks.nan.rank=1", "+callbacks.nan.step=1",
    ]
    result = run_launch(command, cwd=ROOT, timeout=300)
    assert result.returncode == 2, result.stderr[-3000:]
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert errors and set(errors) <= {
        "error: training diverged at epoch 0, step 1: the loss is nan on another process; "
        + errors[0].split("; ", 1)[1],
        "error: training diverged at epoch 0, step 1: the loss is nan; "
        + errors[0].split("; ", 1)[1],
    }, errors
    assert "Traceback" not in result.stderr


class NanWeightAt(L.Callback):
    """Puts a NaN into an HQ weight after global step `step` (as an update that overflowed)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        if trainer.global_step == self.step:
            with torch.no_grad():
                pl_module.model.mask_decoder.hf_token.weight.view(-1)[0] = float("nan")


def test_a_checkpoint_of_diverged_weights_is_refused_in_training(tmp_path, data_root):
    cfg = compose_cfg(
        tmp_path, data_root, *QUICK, "callbacks.best_checkpoint=null",
        "+callbacks.nan._target_=tests.training.test_divergence.NanWeightAt",
        "+callbacks.nan.step=4",
    )
    with pytest.raises(NonFiniteError) as info:
        train(cfg)
    assert str(info.value).startswith(
        "not writing a checkpoint at epoch 1, step 4: the weight "
        "model.mask_decoder.hf_token.weight holds nan, the run diverged; earlier checkpoints are "
        "intact: lower optimizer.lr"
    )
    last = tmp_path / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 2  # epoch 0's, untouched
