"""Two CPU processes (gloo, forked) through Lightning: each rank sees its own samples."""

import json
import shutil
from types import SimpleNamespace

import lightning as L
import pytest
import torch
from data_helpers import demo_config

from samhq_train.data import DataError
from samhq_train.data.datamodule import build_datamodule


class RecordNames(L.LightningModule):
    def __init__(self, out_dir):
        super().__init__()
        self.out_dir = out_dir
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.seen = {"train": [], "val": [], "val3": [], "loaders": []}

    def on_train_start(self):
        loaders = [self.trainer.train_dataloader, *self.trainer.val_dataloaders]
        self.seen["loaders"] = [type(d).__name__ for d in loaders]

    def training_step(self, batch, batch_idx):
        self.seen["train"] += batch["name"]
        return (self.weight * batch["mask"].mean()).sum()

    def validation_step(self, batch, batch_idx, dataloader_idx=0):
        self.seen["val" if dataloader_idx == 0 else "val3"] += batch["name"]

    def on_fit_end(self):
        path = f"{self.out_dir}/rank{self.global_rank}.json"
        with open(path, "w") as f:
            json.dump(self.seen, f)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


@pytest.mark.slow
def test_two_ranks_see_disjoint_samples(demo_root, tmp_path):
    odd = demo_root / "val3"  # 3 images on 2 ranks: no image may be counted twice
    for sub in ("images", "masks"):
        (odd / sub).mkdir(parents=True, exist_ok=True)
        for path in sorted((demo_root / "val" / sub).iterdir())[:3]:
            shutil.copy(path, odd / sub / path.name)
    val_sets = [
        {"name": "demo-val", "image_dir": "val/images", "mask_dir": "val/masks"},
        {"name": "val3", "image_dir": "val3/images", "mask_dir": "val3/masks"},
    ]
    cfg = demo_config(demo_root, batch_size=2, val_batch_size=1, val_sets=val_sets)
    dm = build_datamodule(cfg, image_size=32)
    trainer = L.Trainer(
        accelerator="cpu",
        devices=2,
        strategy="ddp_spawn" if torch.cuda.is_initialized() else "ddp_fork",
        max_epochs=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
    )
    trainer.fit(RecordNames(str(tmp_path)), datamodule=dm)
    seen = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    loaders = ["TrainLoader", "SampleLoader", "SampleLoader"]
    assert seen[0]["loaders"] == loaders, "Lightning kept our loaders"
    for split, total in (("train", 8), ("val", 4)):
        a, b = set(seen[0][split]), set(seen[1][split])
        assert len(seen[0][split]) == len(seen[1][split]) == total // 2
        assert not a & b and len(a | b) == total, (split, a, b)
    val3 = seen[0]["val3"] + seen[1]["val3"]
    assert sorted(val3) == sorted(set(val3)) and len(val3) == 3, val3


def test_an_evaluation_set_smaller_than_the_process_count_is_one_line(demo_root):
    """Every set smaller than the process count: a process with no sample at all would skip the
    validation (Lightning skips a loop without batches) and leave the others waiting."""
    dm = build_datamodule(demo_config(demo_root, val_batch_size=1), image_size=32)
    dm.setup("validate")
    n = len(dm.val_sets[0])
    dm.trainer = SimpleNamespace(world_size=n, global_rank=n - 1)
    assert len(dm.val_dataloader()[0].sampler) == 1
    dm.trainer = SimpleNamespace(world_size=n + 1, global_rank=n)
    with pytest.raises(DataError) as info:
        dm.val_dataloader()
    assert str(info.value) == (
        f"the largest evaluation set, demo-val, has {n} samples, fewer than the {n + 1} processes "
        f"of this run, each of which evaluates its own share: add samples, or run at most {n} "
        "processes (trainer.devices x trainer.num_nodes)"
    )


def test_a_small_set_beside_a_larger_one_leaves_an_empty_share(demo_root):
    one = demo_root / "one"
    for sub in ("images", "masks"):
        (one / sub).mkdir(parents=True, exist_ok=True)
        path = sorted((demo_root / "val" / sub).iterdir())[0]
        shutil.copy(path, one / sub / path.name)
    val_sets = [
        {"name": "demo-val", "image_dir": "val/images", "mask_dir": "val/masks"},
        {"name": "one", "image_dir": "one/images", "mask_dir": "one/masks"},
    ]
    dm = build_datamodule(demo_config(demo_root, val_batch_size=1, val_sets=val_sets), 32)
    dm.setup("validate")
    assert dm.allow_zero_length_dataloader_with_multiple_devices
    shares = []
    for rank in (0, 1):
        dm.trainer = SimpleNamespace(world_size=2, global_rank=rank)
        shares.append([list(loader.sampler) for loader in dm.val_dataloader()])
    n = len(dm.val_sets[0])
    assert shares[0][0] + shares[1][0] == [*range(0, n, 2), *range(1, n, 2)]
    assert shares[0][1] == [0] and shares[1][1] == []
