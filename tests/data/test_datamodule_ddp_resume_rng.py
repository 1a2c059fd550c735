"""A DDP run resumed at an epoch's start (from the last.ckpt of the epoch before) continues every
process's own augmentation and prompt stream (num_workers=0: the main process draws them), not
rank 0's alone: the checkpoint, rank 0's, holds every process's (the datamodule's state_dict)."""

import torch
from data_helpers import demo_config

from samhq_train.data import datamodule as datamodule_module
from samhq_train.data.datamodule import build_datamodule

S = 32


def _process(root, rank: int):
    """A datamodule as DDP process `rank` sets it up: torch seeded with seed + rank (the module's
    seed_this_process), its training set drawing rank's stream."""
    torch.manual_seed(rank)
    dm = build_datamodule(demo_config(root, batch_size=2), image_size=S)
    dm.setup("fit")
    dm.train_set.rank = rank  # the datamodule's setup under a trainer of that rank
    return dm


def _same_batches(a: list[dict], b: list[dict]) -> bool:
    keys = ("image", "mask", "boxes", "points", "mask_input")
    return len(a) == len(b) and all(
        x["name"] == y["name"] and all(torch.equal(x[k], y[k]) for k in keys)
        for x, y in zip(a, b)
    )


def test_a_resumed_process_continues_its_own_stream_not_rank_0s(demo_root, monkeypatch):
    runs = [_process(demo_root, rank) for rank in (0, 1)]
    loaders = [dm.train_dataloader() for dm in runs]
    list(loaders[0])  # epoch 1 of rank 0
    list(loaders[1])  # epoch 1 of rank 1; the checkpoint at its end:
    states = [dm.train_set.rng_state() for dm in runs]
    monkeypatch.setattr(datamodule_module, "gather_from_ranks", lambda own: states)
    saved = runs[0].state_dict()  # what rank 0 writes
    torch_state = torch.get_rng_state()  # rank 1's, restored from the checkpoint's rng_states
    epoch_2 = list(loaders[1])  # rank 1 uninterrupted

    monkeypatch.setattr(datamodule_module, "global_rank", lambda: 1)
    resumed = _process(demo_root, rank=1)
    resumed.load_state_dict(saved)
    torch.set_rng_state(torch_state)
    again = list(resumed.train_dataloader())
    assert _same_batches(again, epoch_2)


def test_an_older_checkpoint_with_rank_0s_stream_alone_still_resumes_rank_0(demo_root):
    first = _process(demo_root, rank=0)
    loader = first.train_dataloader()
    list(loader)
    saved = first.train_set.rng_state()  # the state_dict of earlier versions
    torch_state = torch.get_rng_state()
    epoch_2 = list(loader)
    resumed = _process(demo_root, rank=0)
    resumed.load_state_dict(saved)
    torch.set_rng_state(torch_state)
    assert _same_batches(list(resumed.train_dataloader()), epoch_2)
