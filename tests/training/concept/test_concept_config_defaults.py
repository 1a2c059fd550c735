"""The `concept` group's defaults have one home, the records of samhq_train/concept_settings.py:
experiment=concept_finetune takes them through the `concept_defaults` node (config_defaults.py),
so `python train.py --cfg job` shows every one and a concept run reads the records' values;
an experiment's yaml sets a record key only to change it (the demo's), never to repeat it."""

from dataclasses import asdict, fields

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from samhq_train.concept_settings import (
    CONCEPT_LORA,
    CONCEPT_WITH_MASKS,
    ConceptOptimSettings,
    ConceptPolicy,
)
from samhq_train.training.concept.loss import ConceptLossSettings
from samhq_train.training.concept.run import concept_settings
from tests.training.helpers import CONF

OPTIM_KEYS = [f.name for f in fields(ConceptOptimSettings)]


def concept_group(experiment: str) -> tuple:
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=[f"experiment={experiment}"])
    return cfg, OmegaConf.to_container(cfg.concept, resolve=True)


def test_the_composed_config_shows_the_records_defaults_and_the_run_reads_them():
    cfg, values = concept_group("concept_finetune")
    assert values["policy"] == ConceptPolicy().name
    assert values["lora"] == asdict(CONCEPT_LORA)  # alpha 8, not model.lora's 16
    assert values["with_masks"] is CONCEPT_WITH_MASKS is ConceptLossSettings().with_masks
    assert {key: values[key] for key in OPTIM_KEYS} == asdict(ConceptOptimSettings())
    assert concept_settings(cfg) == (ConceptPolicy(), ConceptOptimSettings(),
                                     ConceptLossSettings().with_masks)


def test_the_demo_changes_the_records_values_and_keeps_the_others():
    cfg, values = concept_group("concept_demo")
    policy, optim, _ = concept_settings(cfg)
    assert policy == ConceptPolicy("detector")
    changed = {"lr_transformer": 1e-3, "lr_vision_backbone": 1e-4, "lr_language_backbone": 1e-3,
               "scheduler_timescale": 100000}
    assert asdict(optim) == {**asdict(ConceptOptimSettings()), **changed}


def test_no_experiment_repeats_a_records_default():
    defaults = {"policy": ConceptPolicy().name, "with_masks": CONCEPT_WITH_MASKS,
                **asdict(ConceptOptimSettings())}
    lora = asdict(CONCEPT_LORA)
    repeats = []
    for path in sorted((CONF / "experiment").glob("*.yaml")):
        group = OmegaConf.to_container(OmegaConf.load(path)).get("concept") or {}
        repeats += [f"{path.name}: concept.{key}" for key, value in group.items()
                    if key in defaults and value == defaults[key]]
        repeats += [f"{path.name}: concept.lora.{key}" for key, value in
                    (group.get("lora") or {}).items() if value == lora.get(key)]
    assert not repeats, f"the records hold these defaults already: {repeats}"
