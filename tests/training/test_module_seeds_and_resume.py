"""SamHQModule's seeds and resume checks: each process is seeded with seed + its global rank when
fitting starts (the official train.py: seed = args.seed + misc.get_rank()), so DDP ranks draw
different augmentations and points; a resumed process restores its own rank's random state; a
checkpoint of another base file or with other trained keys is refused."""

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


def test_a_resumed_process_restores_its_own_ranks_random_state(monkeypatch):
    """A checkpoint holds every process's random state (index = global rank); on loading, rank r
    of a run as wide as the one that wrote it takes entry r."""
    from types import SimpleNamespace

    from samhq_train.model import Provenance
    from samhq_train.model.formats.lightning import PROVENANCE_KEY, STATE_KEY, checkpoint_keys
    from samhq_train.training.checkpointing import collect_rng_states

    provenance = Provenance(variant="vit_demo", seed=0)
    module = SamHQModule(
        build_sam_hq("vit_demo", seed=0), optimizer=torch.optim.Adam, provenance=provenance,
        sam_baseline=False,
    )
    keys = checkpoint_keys(module.model, module.policy)
    states = []
    for seed in (10, 11, 12):
        torch.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)
        states.append(collect_rng_states())
    checkpoint = {
        PROVENANCE_KEY: provenance.to_dict(),
        STATE_KEY: {k: v for k, v in module.state_dict().items() if k in keys},
        "rng_states": states,
    }
    monkeypatch.setattr(SamHQModule, "global_rank", property(lambda self: 1))
    module._trainer = SimpleNamespace(world_size=3)
    torch.manual_seed(0)
    module.on_load_checkpoint(checkpoint)
    restored = (torch.rand(3), np.random.rand(), random.random())
    torch.manual_seed(11)
    np.random.seed(11)
    random.seed(11)
    assert torch.equal(restored[0], torch.rand(3))
    assert restored[1:] == (np.random.rand(), random.random())


def test_resuming_checks_the_base_file_and_the_trained_keys():
    """on_load_checkpoint refuses a checkpoint trained on another base file (its sha256) and one
    whose state_dict is not exactly what the policy trains; the same base, or a run that does
    not know its base's sha256, resumes."""
    import pytest

    from samhq_train.model import CheckpointError, Provenance
    from samhq_train.model.formats.lightning import PROVENANCE_KEY, STATE_KEY, checkpoint_keys

    def module_with(sha):
        provenance = Provenance(variant="vit_demo", base_checkpoint="base.pth", base_sha256=sha)
        return SamHQModule(
            build_sam_hq("vit_demo", seed=0), optimizer=torch.optim.Adam,
            provenance=provenance, sam_baseline=False,
        )

    written = module_with("a" * 64)
    keys = checkpoint_keys(written.model, written.policy)
    checkpoint = {
        PROVENANCE_KEY: written.provenance.to_dict(),
        STATE_KEY: {k: v for k, v in written.state_dict().items() if k in keys},
    }
    written.on_load_checkpoint(checkpoint)
    module_with(None).on_load_checkpoint(checkpoint)
    with pytest.raises(CheckpointError, match="trained on the base base.pth .*give the same base"):
        module_with("b" * 64).on_load_checkpoint(checkpoint)
    partial = dict(checkpoint, **{STATE_KEY: dict(list(checkpoint[STATE_KEY].items())[1:])})
    with pytest.raises(CheckpointError, match="does not hold exactly the parameters"):
        written.on_load_checkpoint(partial)
