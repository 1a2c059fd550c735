"""Helpers for the training tests: compose the real conf/train.yaml, small demo data, probe callbacks."""

import os
import signal
from pathlib import Path

import lightning as L
import torch
from hydra import compose, initialize_config_dir

from samhq_train.config_defaults import CONFIG_DIR
from samhq_train.model import FAMILIES

is_hq_key = FAMILIES["sam1"].is_hq_key

ROOT = Path(__file__).resolve().parents[2]
CONF = CONFIG_DIR  # importing it registers the records' defaults the configs name
# a small demo set and short epochs: every test run takes a few seconds on 2 CPU cores
SMALL = [
    "data.demo.num_train=8",
    "data.demo.num_val=2",
    "data.demo.height=96",
    "data.demo.width=128",
    "data.batch_size=2",
    "data.val_batch_size=2",
    "data.num_workers=0",
    "loss.num_points=1024",
    "trainer.log_every_n_steps=1",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
]
# 2 epochs x 2 steps with a halving learning rate: a run that resumes and exports
SHORT = [
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=2",
    "trainer.accelerator=cpu",
    "scheduler.step_size=1",
    "scheduler.gamma=0.5",
    "optimizer.lr=1e-3",
    "trainer.check_val_every_n_epoch=1",
]
# the tests' model: the 256 px random-backbone vit_demo, uncached (the demo itself trains the
# shipped vit_demo_base from the embedding cache)
TINY = ["model=vit_demo", "data.cache.enabled=false"]


def tiny_unless_given(overrides) -> list[str]:
    """TINY's settings that `overrides` do not set themselves (Hydra refuses a key given twice)."""
    keys = {o.split("=", 1)[0].lstrip("+~") for o in overrides}
    return [t for t in TINY if t.split("=", 1)[0] not in keys]


def compose_cfg(output_dir, data_root, *overrides, small: bool = True):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(
            "train",
            overrides=[
                f"paths.output_dir={output_dir}",
                f"data.root={data_root}",
                *(SMALL if small else []),
                *tiny_unless_given(overrides),
                *overrides,
            ],
        )


def hq_weights(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if is_hq_key(n)}


def assert_same_training_state(a: dict, b: dict) -> None:
    """Two train() runs' objects end with bitwise the same step, weights, optimiser and scheduler."""
    assert a["trainer"].global_step == b["trainer"].global_step
    weights_a, weights_b = hq_weights(a["model"]), hq_weights(b["model"])
    assert all(torch.equal(weights_a[k], weights_b[k]) for k in weights_a)
    opt_a = a["trainer"].optimizers[0].state_dict()
    opt_b = b["trainer"].optimizers[0].state_dict()
    assert opt_a["param_groups"] == opt_b["param_groups"]
    for i, state in opt_a["state"].items():
        assert all(torch.equal(state[k], opt_b["state"][i][k]) for k in state)
    sched_a = a["trainer"].lr_scheduler_configs[0].scheduler.state_dict()
    assert sched_a == b["trainer"].lr_scheduler_configs[0].scheduler.state_dict()


class DumpHQWeights(L.Callback):
    """Each process writes its trainable weights to out_dir/rank<r>.pt at the end of fitting."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir = Path(out_dir)

    def on_fit_end(self, trainer, pl_module) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        torch.save(hq_weights(pl_module.model), self.out_dir / f"rank{trainer.global_rank}.pt")


class RecordResume(L.Callback):
    """Records global step and learning rate when fitting starts (after a checkpoint is restored)."""

    seen: list = []

    def on_train_start(self, trainer, pl_module) -> None:
        RecordResume.seen.append(
            {
                "step": trainer.global_step,
                "epoch": trainer.current_epoch,
                "lr": trainer.optimizers[0].param_groups[0]["lr"],
            }
        )


class SignalAt(L.Callback):
    """Sends this process `signal` (as Ctrl+C or a job scheduler does) when training starts global
    step `step`; under DDP only the process of global rank `rank` when given."""

    def __init__(self, step: int, signal: str = "SIGINT", rank: int | None = None) -> None:
        self.step, self.signal, self.rank = step, signal, rank

    def on_train_batch_start(self, trainer, *args) -> None:
        if trainer.global_step == self.step and self.rank in (None, trainer.global_rank):
            os.kill(os.getpid(), signal.Signals[self.signal])
