"""The DDP settings a policy needs."""

from omegaconf import DictConfig

from samhq_train.model import reaches_every_parameter


def ddp_settings_for(trainer_cfg: DictConfig, policy) -> DictConfig:
    """The trainer settings, with DDP looking for unused parameters where the policy has some
    (else DDP stops at the second step: `reaches_every_parameter`); hq and hq+lora keep the
    cheaper reduction without the search."""
    strategy = trainer_cfg.get("strategy")
    if (reaches_every_parameter(policy) or not isinstance(strategy, DictConfig)
            or strategy.get("find_unused_parameters") is not False):
        return trainer_cfg
    settings = trainer_cfg.copy()
    settings.strategy.find_unused_parameters = True
    return settings
