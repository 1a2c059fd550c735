"""The config check's dry-run model (model_from_config.uninitialised_parameters; audit 14): the
init fills, nn.init's and a tensor's own normal_ / uniform_, leave their tensors unwritten, and
the global random state is as it was after a build."""

import torch
from omegaconf import OmegaConf
from torch import nn

from samhq_train.model_from_config import build_model_from_config, uninitialised_parameters


def test_init_fills_write_nothing_and_the_random_state_is_restored():
    """Mutants: the tensor methods normal_ / uniform_ or nn.init's fills not skipped; the random
    state not restored (a draw inside moves it)."""
    torch.manual_seed(0)
    before = torch.get_rng_state()
    with uninitialised_parameters():
        t = torch.zeros(6)
        t.normal_()
        t.uniform_()
        nn.init.kaiming_uniform_(t[None])
        nn.init.normal_(t)
        torch.randn(3)
    assert torch.equal(t, torch.zeros(6))
    assert torch.equal(torch.get_rng_state(), before)


def test_a_dry_run_build_leaves_the_random_state_as_it_was():
    """Mutant: the dry run built without uninitialised_parameters (every init drawn, the global
    random state moved: a run seeded before its config check would draw other weights)."""
    torch.manual_seed(0)
    before = torch.get_rng_state()
    build_model_from_config(OmegaConf.create({"variant": "vit_demo_base"}), weights=False)
    assert torch.equal(torch.get_rng_state(), before)
