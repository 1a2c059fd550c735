"""Under DDP every process's DistributedSampler must shuffle alike (Lightning seeds it from
PL_GLOBAL_SEED), or the processes' shares of an epoch overlap: some images trained twice, others
not at all. Each process's own draws (dropout, prompts) still differ."""

import functools
import os
import random
from types import SimpleNamespace

import numpy as np
import torch
from lightning.pytorch.trainer.connectors.data_connector import _get_distributed_sampler
from torch.utils.data import DataLoader

from samhq_train.distributed import seed_this_process
from samhq_train.model import Provenance, build_sam_hq
from samhq_train.training.module import SamHQModule


def _shares_after_setup(monkeypatch, seed: int, world_size: int):
    model = build_sam_hq("vit_demo", seed=0)
    module = SamHQModule(model, optimizer=functools.partial(torch.optim.Adam, lr=1e-3),
                         provenance=Provenance(variant="vit_demo", seed=0), seed=seed)
    loader = DataLoader(list(range(16)), shuffle=True)
    shares, first_draws = [], []
    for rank in range(world_size):
        monkeypatch.setenv("PL_GLOBAL_SEED", "0")
        module._trainer = SimpleNamespace(global_rank=rank)  # what global_rank reads
        module.setup("fit")
        first_draws.append(int(torch.randint(1 << 30, ())))
        sampler = _get_distributed_sampler(loader, shuffle=True, overfit_batches=0,
                                           num_replicas=world_size, rank=rank)
        shares.append(list(sampler))
    module._trainer = None
    return shares, first_draws


def test_the_image_module_leaves_every_process_the_run_seed_for_its_sampler(monkeypatch):
    shares, first_draws = _shares_after_setup(monkeypatch, seed=7, world_size=2)
    assert os.environ["PL_GLOBAL_SEED"] == "7"
    assert sorted(shares[0] + shares[1]) == list(range(16)), shares  # disjoint, all covered
    assert first_draws[0] != first_draws[1]  # each process its own dropout / prompt draws


def test_seed_this_process_seeds_the_three_streams_and_leaves_the_sampler_seed(monkeypatch):
    monkeypatch.setenv("PL_GLOBAL_SEED", "3")
    seed_this_process(11)
    draws = (np.random.rand(), torch.rand(()).item(), random.random())
    seed_this_process(11)
    assert draws == (np.random.rand(), torch.rand(()).item(), random.random())
    assert os.environ["PL_GLOBAL_SEED"] == "3"
