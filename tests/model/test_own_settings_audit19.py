"""Mutation audit 19: a setting of another policy than the run's, set away from its default, is
refused (model.policy's image runs: every key of config_check.POLICY_OWN_KEYS to its owner;
concept.policy's LoRA keys), the defaults and the owner's own settings pass, and concept.lora's
defaults are alpha 8 (Meta's), not model.lora's 16."""

import pytest
from hydra import compose, initialize_config_dir

from samhq_train.concept_settings import (
    CONCEPT_POLICIES,
    CONCEPT_POLICY_OWN_KEYS,
    ConceptPolicy,
)
from samhq_train.config_check import ConfigError, check_config, check_policy_settings
from samhq_train.config_defaults import CONFIG_DIR
from samhq_train.model.policy import POLICIES, LoraSettings, TrainablePolicy, check_own_settings
from samhq_train.settings import SettingError

OWN = [("decoder_lr_scale", 0.2, "hq+decoder"), ("lora_lr_scale", 2.0, "hq+lora"),
       ("base_lr_scale", 2.0, "full")]


@pytest.mark.parametrize("key,value,owner", OWN)
def test_an_lr_scale_of_another_policy_is_refused_and_the_owners_passes(key, value, owner):
    for name in POLICIES:
        policy = TrainablePolicy(name=name, **{key: value})
        if name == owner:
            check_policy_settings(policy)
            continue
        with pytest.raises(ConfigError) as err:
            check_policy_settings(policy)
        assert str(err.value) == (
            f"model.{key}={value} is a setting of model.policy={owner}, which this run does not "
            f"use (model.policy={name}): add model.policy={owner}, or remove model.{key}")


@pytest.mark.parametrize("key,value", [("rank", 16), ("alpha", 4.0), ("dropout", 0.1),
                                       ("targets", "attn+mlp")])
def test_every_model_lora_key_belongs_to_hq_lora(key, value):
    lora = LoraSettings(**{key: value})
    check_policy_settings(TrainablePolicy(name="hq+lora", lora=lora))
    with pytest.raises(ConfigError, match=rf"^model\.lora\.{key}=.* model\.policy=hq\+lora"):
        check_policy_settings(TrainablePolicy(name="hq", lora=lora))


def test_the_defaults_pass_under_every_policy():
    for name in POLICIES:
        check_policy_settings(TrainablePolicy(name=name))
    for name in CONCEPT_POLICIES:
        policy = ConceptPolicy.from_config(name, None)
        check_own_settings(policy, ConceptPolicy(), CONCEPT_POLICY_OWN_KEYS, "concept")


def test_concept_lora_defaults_to_alpha_8_and_is_refused_off_detector_lora():
    assert ConceptPolicy.from_config("detector+lora", {"rank": 4}).lora == LoraSettings(
        rank=4, alpha=8.0)
    meta = ConceptPolicy.from_config("detector", {"alpha": 8})  # the recipe's value: no change
    check_own_settings(meta, ConceptPolicy(), CONCEPT_POLICY_OWN_KEYS, "concept")
    with pytest.raises(SettingError, match=r"^concept\.lora\.alpha=16.* concept\.policy="
                                           r"detector\+lora, which this run does not use"):
        check_own_settings(ConceptPolicy.from_config("detector", {"alpha": 16}), ConceptPolicy(),
                           CONCEPT_POLICY_OWN_KEYS, "concept")


def test_an_image_runs_config_check_refuses_another_policys_setting(tmp_path):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose("train", overrides=["model.lora.rank=16",
                                          f"paths.output_dir={tmp_path}"])
    with pytest.raises(ConfigError, match=r"^model\.lora\.rank=16 is a setting of model\.policy"
                                          r"=hq\+lora, which this run does not use"):
        check_config(cfg)
