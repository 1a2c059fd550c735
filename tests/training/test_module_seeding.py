"""SamHQModule seeds each process with seed + its global rank when fitting starts (the official
train.py: seed = args.seed + misc.get_rank()), so DDP ranks draw different augmentations and
points; other stages leave the random state alone."""

import random

import numpy as np
import torch

from samhq_train.model import build_sam_hq
from samhq_train.training.module import SamHQModule


def test_fit_seeds_each_process_with_seed_plus_rank(monkeypatch):
    module = SamHQModule(
        build_sam_hq("vit_demo", seed=0), optimizer=torch.optim.Adam, seed=5, sam_baseline=False
    )
    draws = {}
    for rank in (0, 2):
        monkeypatch.setattr(SamHQModule, "global_rank", property(lambda self, r=rank: r))
        module.setup("fit")
        draws[rank] = (torch.initial_seed(), np.random.rand(), random.random())
    torch.manual_seed(5 + 2)
    np.random.seed(5 + 2)
    random.seed(5 + 2)
    assert draws[2] == (7, np.random.rand(), random.random())
    assert draws[0][0] == 5 and draws[0][1:] != draws[2][1:]
    torch.manual_seed(123)
    module.setup("validate")
    assert torch.initial_seed() == 123
