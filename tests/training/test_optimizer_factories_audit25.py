"""Mutation audit (round 25) of train.optimizer_factories: the optimizer's and the scheduler's
constructors get plain Python values (lists, not OmegaConf's), which torch < 2.6 would keep in
their states and the checkpoints (weights_only loading), and no scheduler where none is set."""

from omegaconf import DictConfig, ListConfig, OmegaConf

from samhq_train.train import optimizer_factories


def _config(scheduler: dict | None):
    return OmegaConf.create({
        "optimizer": {"_target_": "torch.optim.Adam", "_partial_": True, "betas": [0.9, 0.99]},
        "scheduler": scheduler,
    })


def test_the_factories_hold_plain_values():
    optimizer, scheduler = optimizer_factories(_config({
        "_target_": "torch.optim.lr_scheduler.MultiStepLR", "_partial_": True,
        "milestones": [2, 4]}))
    for factory in (optimizer, scheduler):
        assert not any(isinstance(v, DictConfig | ListConfig) for v in factory.keywords.values())
    assert optimizer.keywords["betas"] == [0.9, 0.99]
    assert scheduler.keywords["milestones"] == [2, 4]


def test_no_scheduler_set_is_none():
    assert optimizer_factories(_config(None))[1] is None
