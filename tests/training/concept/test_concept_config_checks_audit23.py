"""Mutation audit (round 23) of training/concept/config_checks.py, called as samhq-train's check
stage calls it (nothing read): a model without weights, the trunk cache with a policy training
the trunk, concept.bpe a folder, and the concept demo's merges file (written by the run) taken
before it is there."""

import pytest
from hydra import compose, initialize_config_dir

from samhq_train.config_defaults import CONFIG_DIR
from samhq_train.errors import ConfigValueError
from samhq_train.training.concept.config_checks import check_concept_config


def concept_cfg(tmp_path, *overrides):
    (tmp_path / "sam3.pt").touch()  # the checks ask only that it is a file
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("train", overrides=["experiment=concept_demo",
                                           f"paths.output_dir={tmp_path}",
                                           f"model.checkpoint={tmp_path / 'sam3.pt'}",
                                           f"data.root={tmp_path / 'demo'}", *overrides])


def test_the_demos_merges_file_passes_before_it_is_written(tmp_path):
    cfg = concept_cfg(tmp_path)
    assert not (tmp_path / "demo").exists()
    check_concept_config(cfg)  # passes: the run writes the demo with its merges file
    (tmp_path / "other").mkdir()
    with pytest.raises(ConfigValueError, match=r"^concept.bpe=.*: no such file"):
        check_concept_config(concept_cfg(tmp_path, "data.concept_demo=null",
                                         f"data.root={tmp_path / 'other'}"))


def test_a_bpe_folder_is_refused_as_no_file(tmp_path):
    with pytest.raises(ConfigValueError, match=rf"^concept.bpe={tmp_path}: is not a file: "):
        check_concept_config(concept_cfg(tmp_path, f"concept.bpe={tmp_path}"))


def test_a_model_without_weights_is_refused(tmp_path):
    with pytest.raises(ConfigValueError, match=r"needs SAM 3's weights: pass model.checkpoint"):
        check_concept_config(concept_cfg(tmp_path, "model.checkpoint=null"))
    check_concept_config(concept_cfg(tmp_path, "model.checkpoint=null", "+model.seed=0"))


def test_the_trunk_cache_with_a_policy_training_the_trunk_is_refused(tmp_path):
    check_concept_config(concept_cfg(tmp_path, "data.cache.enabled=true"))  # detector: passes
    with pytest.raises(ConfigValueError, match=r"^data.cache.enabled=true stores the frozen"):
        check_concept_config(concept_cfg(tmp_path, "data.cache.enabled=true",
                                         "concept.policy=full"))
