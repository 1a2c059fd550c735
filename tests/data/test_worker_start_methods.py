"""Training workers started by spawn (macOS's default) or forkserver (Linux's from Python 3.14)
get nothing inherited from the parent: the dataset, collate function and their seeds must travel
pickled, and give the batches a forked worker gives."""

import subprocess
import sys
from pathlib import Path

import torch
from data_helpers import demo_config

from samhq_train.data.datamodule import build_datamodule

S = 32
FIRST_BATCHES = """
import multiprocessing, sys, torch
sys.path.insert(0, {tests!r})
from data_helpers import demo_config
from samhq_train.data.datamodule import build_datamodule

if __name__ == "__main__":
    multiprocessing.set_start_method({method!r})
    torch.manual_seed(0)
    dm = build_datamodule(demo_config({root!r}, batch_size=2, num_workers=2), image_size={size})
    dm.setup("fit")
    batches = iter(dm.train_dataloader())
    torch.save([next(batches), next(batches)], {out!r})
"""


def first_two_batches(root: Path, method: str, out: Path) -> list[dict]:
    script = FIRST_BATCHES.format(
        tests=str(Path(__file__).parent), method=method, root=str(root), size=S, out=str(out)
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return torch.load(out, weights_only=False)


def test_spawned_workers_give_the_batches_forked_workers_give(demo_root, tmp_path):
    torch.manual_seed(0)
    dm = build_datamodule(demo_config(demo_root, batch_size=2, num_workers=2), image_size=S)
    dm.setup("fit")
    batches = iter(dm.train_dataloader())
    forked = [next(batches), next(batches)]
    started = first_two_batches(demo_root, "spawn", tmp_path / "batches.pt")
    for a, b in zip(started, forked):
        for key in ("image", "mask", "boxes", "points", "mask_input"):
            assert torch.equal(a[key], b[key]), key
        assert a["prompt_type"] == b["prompt_type"] and a["name"] == b["name"]
