"""ddp_settings_for case by case (mutation audit round 6): what Lightning's DDPStrategy is built
with, instantiated from the settings, for each policy and strategy spelling. DDP's own default is
find_unused_parameters=False (torch's DistributedDataParallel), so a policy whose steps leave
parameters without a gradient needs it set to True wherever the settings build a DDPStrategy."""

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from samhq_train.model import POLICIES, reaches_every_parameter
from samhq_train.model.policy import as_policy
from samhq_train.training.ddp_settings import ddp_settings_for

DDP = "lightning.pytorch.strategies.DDPStrategy"


def built_search(trainer_cfg, policy) -> bool:
    """find_unused_parameters of the DDPStrategy the settings build (DDP's default: False)."""
    strategy = instantiate(ddp_settings_for(trainer_cfg, policy).strategy)
    return bool(strategy._ddp_kwargs.get("find_unused_parameters", False))


@pytest.mark.parametrize("policy", POLICIES)
def test_the_search_is_on_exactly_where_a_step_misses_parameters(policy):
    for given in (False, True):
        trainer = OmegaConf.create({"strategy": {"_target_": DDP,
                                                 "find_unused_parameters": given}})
        assert built_search(trainer, policy) is (given or not reaches_every_parameter(policy))


def test_hq_keeps_the_cheaper_reduction_and_the_run_settings_are_not_changed():
    trainer = OmegaConf.create({"strategy": {"_target_": DDP, "find_unused_parameters": False,
                                             "process_group_backend": "gloo"}, "devices": 2})
    for policy in ("hq", "hq+lora"):
        assert ddp_settings_for(trainer, policy) is trainer
    settings = ddp_settings_for(trainer, "full")
    assert settings is not trainer and settings.strategy.process_group_backend == "gloo"
    assert OmegaConf.to_container(trainer)["strategy"]["find_unused_parameters"] is False


@pytest.mark.parametrize("policy", ["hq+decoder", "full"])
def test_a_ddp_strategy_without_the_key_searches_for_policies_that_need_it(policy):
    trainer = OmegaConf.create({"strategy": {"_target_": DDP}})
    assert built_search(trainer, policy) is True


@pytest.mark.parametrize("name", ["ddp", "ddp_spawn", "ddp_fork_find_unused_parameters_false"])
def test_a_ddp_strategy_name_searches_for_policies_that_need_it(name):
    base = name.removesuffix("_find_unused_parameters_false")
    for policy in ("hq+decoder", "full"):
        settings = ddp_settings_for(OmegaConf.create({"strategy": name}), policy)
        assert settings.strategy == base + "_find_unused_parameters_true"
    for policy in ("hq", "hq+lora"):
        assert ddp_settings_for(OmegaConf.create({"strategy": name}), policy).strategy == name
    assert ddp_settings_for(OmegaConf.create({"strategy": "auto"}), "full").strategy == "auto"


def test_a_policy_object_is_judged_by_its_name():
    for name in POLICIES:
        assert reaches_every_parameter(as_policy(name)) is reaches_every_parameter(name)
    assert reaches_every_parameter(as_policy("hq+lora")) and not reaches_every_parameter("full")
