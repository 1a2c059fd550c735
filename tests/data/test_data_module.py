import json
import logging

import numpy as np
import pytest
import torch
from data_helpers import demo_config

from samhq_train.data import (
    DataError,
    PromptConfig,
    PromptedDataset,
    ensure_demo_data,
    make_demo_sample,
)
from samhq_train.data.datamodule import build_datamodule
from samhq_train.data.transform_builders import build_train_transform
from samhq_train.data.write_once import MARKER

S = 32


def first_batch(root, seed=0, **overrides):
    torch.manual_seed(seed)
    dm = build_datamodule(demo_config(root, **overrides), image_size=S)
    dm.setup("fit")
    return next(iter(dm.train_dataloader()))


def test_train_batch_follows_the_contract(demo_root):
    b = first_batch(demo_root, batch_size=4)
    assert b["image"].shape == (4, 3, S, S) and b["image"].dtype == torch.uint8
    assert 0 <= b["image"].min() and b["image"].max() <= 255
    assert b["mask"].shape == (4, 1, S, S) and b["mask"].dtype == torch.float32
    assert 0 <= b["mask"].min() and b["mask"].max() <= 255
    assert len(b["prompt_type"]) == 4 and set(b["prompt_type"]) <= {"box", "point", "noise_mask"}
    assert b["boxes"].shape == (4, 4) and b["boxes"].dtype == torch.float32
    assert b["points"].shape == (4, 10, 2) and b["point_labels"].shape == (4, 10)
    assert (b["point_labels"] == 1).all()
    assert b["mask_input"].shape == (4, 1, S // 4, S // 4)
    assert set(b["mask_input"].unique().tolist()) <= {0.0, 255.0}
    assert [g.dtype for g in b["gt_original"]] == [torch.uint8] * 4
    assert b["original_size"] == [tuple(g.shape) for g in b["gt_original"]] == [(48, 64)] * 4
    assert all(h <= S and w <= S for h, w in b["input_size"])
    assert b["dataset"] == ["demo-train"] * 4 and all(len(n) == 4 for n in b["name"])
    for i in range(4):
        fg = b["mask"][i, 0] > 128
        ys, xs = torch.nonzero(fg, as_tuple=True)
        assert b["boxes"][i].tolist() == [xs.min(), ys.min(), xs.max(), ys.max()]
        px = b["points"][i].long()
        assert fg[px[:, 1], px[:, 0]].all()
        h, w = b["input_size"][i]
        assert (b["image"][i, :, h:, :] == 128).all() and (b["image"][i, :, :, w:] == 128).all()


def test_val_loaders_are_named_and_use_the_official_resize(demo_root):
    cfg = demo_config(
        demo_root,
        val_sets=[
            {"name": "A", "image_dir": "val/images", "mask_dir": "val/masks"},
            {"name": "B", "image_dir": "train/images", "mask_dir": "train/masks"},
        ],
    )
    dm = build_datamodule(cfg, image_size=S)
    dm.setup("validate")
    loaders = dm.val_dataloader()
    assert dm.val_names == ["A", "B"] and len(loaders) == 2
    assert [len(loader.dataset) for loader in loaders] == [4, 8]
    b = next(iter(loaders[0]))
    assert b["dataset"] == ["A", "A"] and b["prompt_type"] == ["box", "box"]
    assert b["input_size"] == [(S, S)] * 2 and b["name"] == ["0000", "0001"]
    again = next(iter(build_datamodule(cfg, image_size=S, seed=0).val_dataloader()[0]))
    assert torch.equal(b["points"], again["points"]), "evaluation prompts do not depend on state"


def test_seed_reproduces_batches(demo_root):
    a, b, c = first_batch(demo_root, 0), first_batch(demo_root, 0), first_batch(demo_root, 1)
    for key in ("image", "mask", "boxes", "points", "mask_input"):
        assert torch.equal(a[key], b[key]), key
    assert a["prompt_type"] == b["prompt_type"] and a["name"] == b["name"]
    assert not torch.equal(a["image"], c["image"])


class SameSample(torch.utils.data.Dataset):
    def __init__(self, root):
        from samhq_train.data import PairedFolderDataset

        self.inner = PairedFolderDataset(root / "train/images", root / "train/masks")

    def __len__(self):
        return 4

    def __getitem__(self, idx):
        return self.inner[0]


def test_workers_and_ranks_draw_independently(demo_root):
    ds = PromptedDataset(
        SameSample(demo_root),
        build_train_transform(S),
        PromptConfig(),
        train=True,
        strict=True,
        name="x",
    )
    torch.manual_seed(0)
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2)
    first, second = [s["mask"] for s, _ in zip(loader, range(2))]  # one item from each worker
    assert not np.array_equal(first, second)
    masks = []
    for rank in (0, 1):
        ds.rank, ds._rng_key = rank, None
        torch.manual_seed(0)
        masks.append(ds[0]["mask"])
    assert not np.array_equal(*masks)


def test_demo_data_is_deterministic(tmp_path, demo_root):
    other = ensure_demo_data(
        tmp_path / "again", num_train=8, num_val=4, height=48, width=64, seed=0
    )
    for split in ("train", "val"):
        names = sorted(p.name for p in (demo_root / split / "images").iterdir())
        assert names == sorted(p.name for p in (other / split / "images").iterdir())
        assert len(names) == {"train": 8, "val": 4}[split]
        for name in names[:2]:
            assert (demo_root / split / "images" / name).read_bytes() == (
                other / split / "images" / name
            ).read_bytes()
    image, mask = make_demo_sample(0, "train", 1, 48, 64)
    assert image.shape == (48, 64, 3) and set(np.unique(mask)) <= {0, 255} and (mask > 0).any()
    # the marker decides: same parameters -> kept, new ones -> rebuilt
    stamp = (other / MARKER).stat().st_mtime_ns
    ensure_demo_data(other, num_train=8, num_val=4, height=48, width=64, seed=0)
    assert (other / MARKER).stat().st_mtime_ns == stamp
    ensure_demo_data(other, num_train=2, num_val=1, height=48, width=64, seed=0)
    assert json.loads((other / MARKER).read_text())["num_train"] == 2
    assert len(list((other / "train" / "images").iterdir())) == 2


def test_demo_never_overwrites_foreign_data(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "photo.jpg").write_bytes(b"x")
    with pytest.raises(DataError, match="not demo data made by samhq_train"):
        ensure_demo_data(tmp_path / "mine", num_train=1, num_val=1)


def test_demo_config_generates_on_first_use(tmp_path):
    cfg = demo_config(
        tmp_path / "d", demo={"num_train": 4, "num_val": 2, "height": 40, "width": 48}
    )
    dm = build_datamodule(cfg, image_size=S)
    dm.setup()
    assert len(dm.train_set) == 4 and len(dm.val_sets[0]) == 2
    assert next(iter(dm.val_dataloader()[0]))["image"].shape == (2, 3, S, S)


def test_too_small_training_set_is_reported(demo_root):
    dm = build_datamodule(demo_config(demo_root, batch_size=64), image_size=S)
    with pytest.raises(DataError, match="fewer than one batch"):
        dm.train_dataloader()


@pytest.mark.parametrize("workers", [0, 2])
def test_the_training_loader_resumed_mid_epoch_gives_the_rest_of_that_epoch(demo_root, workers):
    """What a trainer resumed after 2 of 4 batches gets: the 2 batches the run had not seen yet,
    without drawing from torch's global RNG (the checkpoint restored its state)."""
    cfg = demo_config(demo_root, batch_size=2, num_workers=workers)
    torch.manual_seed(0)
    first = build_datamodule(cfg, image_size=S)
    first.setup("fit")
    loader = first.train_dataloader()
    batches = iter(loader)
    seen = [next(batches), next(batches)]
    loader_state, data_state = loader.state_dict(), first.state_dict()
    rest = list(batches)
    assert len(seen) + len(rest) == len(loader) == 4

    torch.manual_seed(0)  # the resumed process is seeded as the first one was (seed_everything)
    torch.rand(5)  # and its torch stream stands elsewhere
    resumed = build_datamodule(cfg, image_size=S)
    resumed.setup("fit")
    resumed.load_state_dict(data_state)
    again = resumed.train_dataloader()
    again.batches_done = lambda: len(seen)  # the trainer's count of the epoch's batches done
    again.load_state_dict(loader_state)
    torch_state = torch.get_rng_state()
    got = list(again)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert len(got) == len(rest)
    for a, b in zip(got, rest):
        for key in ("image", "mask", "boxes", "points", "mask_input"):
            assert torch.equal(a[key], b[key]), key
        assert a["prompt_type"] == b["prompt_type"] and a["name"] == b["name"]


def resume_in_epoch(root, epoch, **overrides):
    """(the rest of `epoch` after 2 of its 4 batches, and what a loader resumed there gives)."""
    cfg = demo_config(root, batch_size=2, **overrides)
    torch.manual_seed(0)
    first = build_datamodule(cfg, image_size=S)
    first.setup("fit")
    loader = first.train_dataloader()
    for _ in range(epoch):
        list(loader)
    batches = iter(loader)
    seen = [next(batches), next(batches)]
    loader_state, data_state = loader.state_dict(), first.state_dict()
    rest = list(batches)
    torch.manual_seed(1)
    resumed = build_datamodule(cfg, image_size=S)
    resumed.setup("fit")
    resumed.load_state_dict(data_state)
    again = resumed.train_dataloader()
    again.batches_done = lambda: len(seen)
    again.load_state_dict(loader_state)
    return rest, list(again)


@pytest.mark.parametrize(("persistent", "epoch"), [(False, 1), (True, 0), (True, 1)])
def test_a_resume_with_persistent_workers_says_when_it_is_not_exact(demo_root, caplog, persistent, epoch):
    """Persistent workers carry their random state from one epoch into the next, and no checkpoint
    holds it: a resume in such an epoch warns, naming the key; in their first epoch (and without
    them) the resume is exact and says nothing."""
    with caplog.at_level(logging.WARNING, logger="samhq_train.data.loaders"):
        rest, got = resume_in_epoch(demo_root, epoch, num_workers=2, persistent_workers=persistent)
    warnings = [r.getMessage() for r in caplog.records if "persistent_workers" in r.getMessage()]
    assert len(got) == len(rest) == 2
    if persistent and epoch > 0:
        assert len(warnings) == 1 and "data.persistent_workers=false" in warnings[0], warnings
        return
    assert warnings == []
    for a, b in zip(got, rest):
        for key in ("image", "mask", "boxes", "points", "mask_input"):
            assert torch.equal(a[key], b[key]), key
