"""The embedding cache under DDP (2 CPU processes): every process builds its share of one plan,
also when the run validates before training (ranks > 0 set their data up under the trainer, for
that first validation only the validation sets were planned there, so shares were cut from other
lists and entries were left to nobody: a missing entry, a gloo traceback)."""

import re
import sys

import pytest

from tests.ddp_launch import run_launch
from tests.training.helpers import ROOT, SMALL, TINY


@pytest.mark.slow
def test_ddp_processes_build_their_shares_of_one_cache_plan(tmp_path):
    out, cache = tmp_path / "run", tmp_path / "cache"
    command = [
        sys.executable, "train.py", "trainer=ddp_sim", f"hydra.run.dir={out}",
        f"paths.output_dir={out}", f"data.root={tmp_path / 'data'}", *SMALL, *TINY,
        "data.cache.enabled=true", f"data.cache.dir={cache}", "validate_before_training=true",
        "trainer.max_epochs=1", "trainer.limit_train_batches=2", "export=false",
    ]
    result = run_launch(command, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    logged = result.stdout + result.stderr
    shares = re.findall(r"this process builds (\d+) of (\d+) entries", logged)
    assert sorted(shares) == [("4", "10"), ("6", "10")], shares  # 8 train + 2 val images
    assert len(list(cache.rglob("*.safetensors"))) == 10
    assert (out / "checkpoints" / "last.ckpt").is_file()
