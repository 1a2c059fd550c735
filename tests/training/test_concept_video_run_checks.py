"""The two silent traps closed for image runs, closed for concept and video runs too: resuming a
finished run (check_resume_trains, in their check stage) and a concept.lora setting that the
concept.policy does not read (check_own_settings, the wording of the model.* settings)."""

import re

import pytest
import torch
from hydra import compose, initialize_config_dir

from samhq_train.config_check import ConfigError
from samhq_train.errors import ConfigValueError
from samhq_train.run.checks import check_inputs
from samhq_train.training.concept.run import concept_settings
from samhq_train.training.export_names import concept_export_name, video_export_name
from tests.training.helpers import CONF


def cfg(out, experiment, *overrides):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose("train", overrides=[f"experiment={experiment}", f"paths.output_dir={out}",
                                           *overrides])


@pytest.mark.parametrize(("experiment", "export_name"), [("concept_demo", concept_export_name),
                                                         ("video_demo", video_export_name)])
def test_resuming_a_finished_concept_or_video_run_is_refused(tmp_path, experiment, export_name):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    last = run / "checkpoints" / "last.ckpt"  # what the check reads: the fit loop's counters
    torch.save({"state_dict": {}, "global_step": 2,
                "loops": {"fit_loop": {"epoch_progress": {"current": {"processed": 1}}}}}, last)
    with pytest.raises(ConfigError, match=rf"^ckpt_path={last} is the end of a finished run: it "
                       r"has trained 1 epoch \(trainer.max_epochs=1\), .* raise "
                       r"trainer.max_epochs above 1$"):
        check_inputs(cfg(tmp_path / "new", experiment, "trainer.max_epochs=1",
                         f"ckpt_path={last}"))
    export = run / "export" / export_name(cfg(run, experiment))
    export.parent.mkdir()
    export.touch()
    with pytest.raises(ConfigError, match=r"above 1 and give a new paths.output_dir or export=false"
                       rf" \({export} is its export\)$"):
        check_inputs(cfg(run, experiment, "trainer.max_epochs=1", f"ckpt_path={last}"))
    check_inputs(cfg(tmp_path / "new", experiment, "trainer.max_epochs=2", f"ckpt_path={last}"))


@pytest.mark.parametrize(("overrides", "key", "policy"), [
    (["concept.lora.rank=16"], "concept.lora.rank=16", "detector"),
    (["concept.policy=full", "concept.lora.targets=[blocks]"], r"concept.lora.targets=\[blocks\]",
     "full"),
])
def test_a_lora_setting_of_a_policy_without_lora_is_refused(tmp_path, overrides, key, policy):
    with pytest.raises(ConfigValueError, match=(
            rf"^{key} is a setting of concept.policy=detector\+lora, which this run does not use "
            rf"\(concept.policy={policy}\): add concept.policy=detector\+lora, or remove ")):
        concept_settings(cfg(tmp_path, "concept_demo", *overrides))


@pytest.mark.parametrize("value", ["5", "x"])
def test_a_lora_value_that_is_not_a_mapping_is_named(tmp_path, value):
    """Not dict()'s own words ('dictionary update sequence ...') nor a TypeError's traceback."""
    with pytest.raises(ConfigValueError, match=(
            rf"^concept.lora={re.escape(value)}: expected a mapping of rank, alpha, dropout, "
            "targets$")):
        concept_settings(cfg(tmp_path, "concept_demo", "concept.policy=detector+lora",
                             f"concept.lora={value}"))


def test_the_defaults_and_detector_lora_settings_pass(tmp_path):
    for experiment in ("concept_demo", "concept_finetune"):
        assert concept_settings(cfg(tmp_path, experiment))[0].lora.alpha == 8
    policy = concept_settings(cfg(tmp_path, "concept_demo", "concept.policy=detector+lora",
                                  "concept.lora.rank=16"))[0]
    assert (policy.name, policy.lora.rank) == ("detector+lora", 16)
