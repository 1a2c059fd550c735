"""DDP on 2 CPU processes (the embedding cache built by both), precision, accumulation / clipping, TensorBoard overlays."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from samhq_train.model import (
    FAMILIES,
    build_sam_hq,
)
from samhq_train.train import train
from tests.ddp_launch import run_launch
from tests.training.helpers import ROOT, SMALL, TINY, compose_cfg
from tests.training.trained_samples import trained_samples

is_hq_key = FAMILIES["sam1"].is_hq_key

ONE_EPOCH = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=2",
    "trainer.check_val_every_n_epoch=1",
    "validate_before_training=false",
    "export=false",
]


@pytest.fixture(scope="module")
def ddp_run(tmp_path_factory, data_root) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """One 2-process run (2 epochs of 2 steps: every process's share of the 8 training images,
    a validation before training, the embedding cache built, the export): (run folder, cache
    folder, the launch's result)."""
    folder = tmp_path_factory.mktemp("ddp_run")
    out, cache = folder / "run", folder / "cache"
    command = [
        sys.executable,
        "train.py",
        "trainer=ddp_sim",
        f"hydra.run.dir={out}",
        f"paths.output_dir={out}",
        f"data.root={data_root}",
        *SMALL,
        *[t for t in TINY if not t.startswith("data.cache.enabled")],
        *[o for o in ONE_EPOCH if not o.startswith(("trainer.max_epochs", "trainer.check_val"))],
        "trainer.max_epochs=2",
        "trainer.check_val_every_n_epoch=2",  # the epochs' shares; no validation between them
        "callbacks.best_checkpoint=null",
        "export=true",
        "validate_before_training=true",
        "data.cache.enabled=true",
        f"data.cache.dir={cache}",
        "+callbacks.dump._target_=tests.training.helpers.DumpHQWeights",
        f"+callbacks.dump.out_dir={out}/weights",
        "+callbacks.trained._target_=tests.training.trained_samples.RecordTrainedSamples",
        f"+callbacks.trained.out_dir={out}/trained",
    ]
    result = run_launch(command, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return out, cache, result


@pytest.mark.slow
def test_ddp_two_cpu_processes_keep_identical_weights_and_write_one_checkpoint(ddp_run):
    out, _, _ = ddp_run
    rank0 = torch.load(out / "weights" / "rank0.pt", weights_only=True)
    rank1 = torch.load(out / "weights" / "rank1.pt", weights_only=True)
    assert set(rank0) == set(rank1) and all(torch.equal(rank0[k], rank1[k]) for k in rank0)
    fresh = build_sam_hq("vit_demo", seed=0).state_dict()
    assert any(
        not torch.equal(rank0[k], fresh[k]) for k in rank0
    )  # both ranks trained the same steps
    assert [p.name for p in (out / "checkpoints").iterdir()] == ["last.ckpt"]
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 4 and len(ckpt["rng_states"]) == 2
    assert not torch.equal(
        ckpt["rng_states"][0]["torch"], ckpt["rng_states"][1]["torch"]
    )  # seed + rank
    assert all(torch.equal(ckpt["state_dict"][f"model.{k}"], v) for k, v in rank0.items())
    assert sorted(p.name for p in (out / "export").iterdir()) == [
        "sam_hq_vit_demo.pth",
        "sam_hq_vit_demo_hq.safetensors",
    ]


@pytest.mark.slow
def test_ddp_processes_train_disjoint_shares_of_each_epoch_in_a_new_order(ddp_run):
    """Each epoch, the two processes' shares of the training set are disjoint and cover it, and
    the second epoch is shuffled anew. Every process's DistributedSampler shuffles with the run's
    seed (PL_GLOBAL_SEED): a module that reseeded it per process (seed_everything(seed + rank))
    trained some images twice an epoch and others never."""
    out, _, _ = ddp_run
    ranks = trained_samples(out / "trained", world_size=2)
    assert all(sorted(rank) == [0, 1] for rank in ranks), ranks
    names = sorted(ranks[0][0] + ranks[1][0])
    assert names == [f"demo-train/{i:04d}" for i in range(8)]  # the demo's 8 training images
    for epoch in (0, 1):
        assert all(len(rank[epoch]) == 4 for rank in ranks), ranks  # 2 steps of 2 each
        assert sorted(ranks[0][epoch] + ranks[1][epoch]) == names, ranks  # disjoint, all of it
    assert [rank[0] for rank in ranks] != [rank[1] for rank in ranks]  # epoch 2 reshuffled


@pytest.mark.slow
def test_ddp_processes_build_their_shares_of_one_cache_plan(ddp_run):
    """Every process builds its share of one plan, also when the run validates before training
    (ranks > 0 set their data up under the trainer, for that first validation only the
    validation sets were planned there, so shares were cut from other lists and entries were
    left to nobody: a missing entry, a gloo traceback)."""
    _, cache, result = ddp_run
    logged = result.stdout + result.stderr
    shares = re.findall(r"this process builds (\d+) of (\d+) entries", logged)
    assert sorted(shares) == [("4", "10"), ("6", "10")], shares  # 8 train + 2 val images
    assert len(list(cache.rglob("*.safetensors"))) == 10


@pytest.mark.slow
def test_a_signal_to_one_ddp_process_stops_both_at_the_same_step(tmp_path, data_root):
    """SIGTERM reaches rank 1 only (as a scheduler may): both processes finish that step, one
    checkpoint of it is written, the run exits 143 (not a hang in the next all-reduce)."""
    out = tmp_path / "run"
    command = [
        sys.executable, "train.py", "trainer=ddp_sim", f"hydra.run.dir={out}", f"paths.output_dir={out}",
        f"data.root={data_root}", *SMALL, *TINY, *ONE_EPOCH, "trainer.max_epochs=2",
        "callbacks.best_checkpoint=null",  # 8 images, batch 2, 2 processes: 2 steps an epoch
        "+callbacks.stop._target_=tests.training.helpers.SignalAt", "+callbacks.stop.step=2",
        "+callbacks.stop.signal=SIGTERM", "+callbacks.stop.rank=1",
    ]
    result = run_launch(command, cwd=ROOT, timeout=300)
    assert result.returncode == 143, result.stderr[-3000:]
    ckpt = torch.load(out / "checkpoints" / "interrupted.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 3 and len(ckpt["rng_states"]) == 2
    assert "interrupted (SIGTERM) during training at epoch 1, step 3" in result.stderr


def test_bf16_mixed_precision_runs_on_cpu(tmp_path, data_root):
    metrics, objects = train(
        compose_cfg(tmp_path, data_root, "debug=fdr", "trainer.precision=bf16-mixed")
    )
    assert objects["trainer"].precision == "bf16-mixed" and torch.isfinite(
        torch.tensor(metrics["train/loss"])
    )
    assert all(p.dtype == torch.float32 for p in objects["model"].parameters())


def test_accumulation_and_clipping_from_config(tmp_path, data_root):
    _, objects = train(
        compose_cfg(
            tmp_path,
            data_root,
            *ONE_EPOCH,
            "trainer.limit_train_batches=4",
            "trainer.accumulate_grad_batches=2",
            "trainer.gradient_clip_val=0.01",
        )
    )
    trainer = objects["trainer"]
    assert trainer.global_step == 2 and trainer.accumulate_grad_batches == 2
    assert trainer.gradient_clip_val == 0.01
    assert all(
        not p.requires_grad
        for n, p in objects["model"].named_parameters()
        if not is_hq_key(n)
    )


def test_tensorboard_gets_validation_overlays(tmp_path, data_root):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    train(
        compose_cfg(tmp_path, data_root, *ONE_EPOCH, "logger=[csv,tensorboard]", "num_overlays=1")
    )
    events = EventAccumulator(str(tmp_path / "tensorboard")).Reload()
    assert events.Tags()["images"] == ["val_overlay/demo-val/0"]
    assert "val/demo-val/mIoU" in events.Tags()["scalars"]
    assert (tmp_path / "csv" / "metrics.csv").exists()
