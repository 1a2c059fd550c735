"""The DDP settings a policy needs."""

from omegaconf import DictConfig

from samhq_train.model import reaches_every_parameter

# Lightning's registered DDP strategy names and their twins that search for unused parameters
DDP_NAMES = ("ddp", "ddp_spawn", "ddp_fork", "ddp_notebook")
SEARCH_SUFFIX = "_find_unused_parameters_true"
NO_SEARCH_SUFFIX = "_find_unused_parameters_false"


def is_ddp_strategy(strategy: DictConfig) -> bool:
    """A strategy config that builds Lightning's DDPStrategy (or says find_unused_parameters)."""
    target = str(strategy.get("_target_", ""))
    return target.endswith(".DDPStrategy") or "find_unused_parameters" in strategy


def ddp_settings_for(trainer_cfg: DictConfig, policy) -> DictConfig:
    """The trainer settings, with DDP looking for unused parameters where the policy has some
    (else DDP stops at the second step: `reaches_every_parameter`), whether the strategy is a
    DDPStrategy config (DDP's default is no search) or one of Lightning's DDP names; hq and
    hq+lora keep the cheaper reduction without the search."""
    strategy = trainer_cfg.get("strategy")
    if reaches_every_parameter(policy):
        return trainer_cfg
    settings = trainer_cfg.copy()
    if isinstance(strategy, DictConfig) and is_ddp_strategy(strategy):
        if strategy.get("find_unused_parameters") is True:
            return trainer_cfg
        settings.strategy.find_unused_parameters = True
    elif isinstance(strategy, str) and strategy.removesuffix(NO_SEARCH_SUFFIX) in DDP_NAMES:
        settings.strategy = strategy.removesuffix(NO_SEARCH_SUFFIX) + SEARCH_SUFFIX
    else:
        return trainer_cfg
    return settings
