"""A setting only another policy reads (model.lora.*, the lr scales) given away from its default
is refused by the config check, naming the key and the policy that reads it: the run would
otherwise ignore it in silence."""

import pytest

from samhq_train.config_check import ConfigError, check_config
from tests.training.helpers import compose_cfg


def config(tmp_path, *overrides):
    return compose_cfg(tmp_path / "run", tmp_path / "data", *overrides)


@pytest.mark.parametrize(
    ("overrides", "key", "owner", "policy"),
    [
        (["model.lora.rank=16"], "model.lora.rank=16", "hq+lora", "hq"),
        (["model.lora.targets=[blocks]"], r"model.lora.targets=\[blocks\]", "hq+lora", "hq"),
        (["model.policy=full", "model.lora_lr_scale=2"], "model.lora_lr_scale=2", "hq+lora",
         "full"),
        (["model.decoder_lr_scale=0.5"], "model.decoder_lr_scale=0.5", "hq+decoder", "hq"),
        (["model.policy=hq+lora", "model.base_lr_scale=0.1"], "model.base_lr_scale=0.1", "full",
         r"hq\+lora"),
    ],
)
def test_another_policys_setting_is_refused(tmp_path, overrides, key, owner, policy):
    with pytest.raises(ConfigError, match=(
            rf"^{key} is a setting of model.policy={owner.replace('+', '[+]')}, which this run "
            rf"does not use \(model.policy={policy}\): add model.policy=.*, or remove ")):
        check_config(config(tmp_path, *overrides))


def test_the_policys_own_settings_and_the_defaults_pass(tmp_path):
    check_config(config(tmp_path))
    check_config(config(tmp_path, "model.policy=hq+lora", "model.lora.rank=4",
                        "model.lora_lr_scale=2"))
    check_config(config(tmp_path, "experiment=finetune_decoder", "model.decoder_lr_scale=0.2"))
