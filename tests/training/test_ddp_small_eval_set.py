"""A validation set smaller than the process count under DDP (2 CPU processes, gloo): the process
without a sample of it takes part in the metric sums with an empty share, and the metrics are
those of a one-process run (the validation before training: same weights on both).

The runs train the full policy (test_ddp_policies.py's point, in this launch): its parameters
that a step may not reach stopped DDP with find_unused_parameters=false at the second step
("parameters that were not used in producing the loss"), so the run takes 2 steps."""

import csv
import shutil
import sys
from pathlib import Path

import pytest
import torch

from samhq_train.data import ensure_demo_data
from tests.ddp_launch import run_launch
from tests.training.helpers import ROOT

SETTINGS = [
    "data.demo.num_train=8", "data.demo.num_val=3", "data.demo.height=96", "data.demo.width=128",
    "data.batch_size=2", "data.val_batch_size=1", "data.num_workers=0", "loss.num_points=1024",
    "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false", "model=vit_demo",
    "data.cache.enabled=false", "validate_before_training=true", "trainer.max_epochs=1",
    "trainer.limit_train_batches=2", "model.policy=full", "export=false", "num_overlays=0",
    "data.val_sets=[{name:demo-val,image_dir:val/images,mask_dir:val/masks},"
    "{name:one,image_dir:one/images,mask_dir:one/masks}]",
]


def first_validation(out) -> dict[str, str]:
    """The logged metrics of the run's first validation (before training), as written."""
    with open(out / "csv" / "metrics.csv") as f:
        row = next(csv.DictReader(f))
    return {k: v for k, v in row.items() if k.startswith("val/")}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """The run folders of the one-process run and the 2-process one (same settings)."""
    folder = tmp_path_factory.mktemp("small_eval_set")
    data = ensure_demo_data(folder / "data", num_train=8, num_val=3, height=96, width=128,
                            seed=0)
    for sub, name in (("images", "0002.jpg"), ("masks", "0002.png")):
        (data / "one" / sub).mkdir(parents=True)
        shutil.copy(data / "val" / sub / name, data / "one" / sub / name)
    runs = {}
    for label, extra in (("single", []), ("ddp", ["trainer=ddp_sim"])):
        out = folder / label
        result = run_launch(
            [sys.executable, "train.py", *extra, f"hydra.run.dir={out}",
             f"paths.output_dir={out}", f"data.root={data}", *SETTINGS],
            cwd=ROOT, timeout=400,
            ddp=bool(extra),
        )
        assert result.returncode == 0, result.stderr[-3000:]
        runs[label] = out
    return runs


@pytest.mark.slow
def test_a_set_smaller_than_the_process_count_gives_the_one_process_metrics(runs):
    single, ddp = (first_validation(runs[label]) for label in ("single", "ddp"))
    assert single["val/one/mIoU"] and single["val/demo-val/mIoU"]
    assert ddp == single


@pytest.mark.slow
def test_full_policy_trains_under_ddp(runs):
    """Both steps ran (the error came at the second)."""
    last = torch.load(runs["ddp"] / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 2
