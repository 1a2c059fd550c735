"""experiment=concept_finetune spells out the `concept` group's defaults (so that `python
train.py --cfg job` shows them) and the records hold them too (what a concept run reads for a key
left out): concept.lora is training/concept/trainable.CONCEPT_LORA (alpha 8, not model.lora's 16),
the optimiser keys ConceptOptimSettings', concept.policy ConceptPolicy's, concept.with_masks
ConceptLossSettings'. This keeps the two equal."""

from dataclasses import asdict

from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from samhq_train.training.concept.loss import ConceptLossSettings
from samhq_train.training.concept.optimizer import ConceptOptimSettings
from samhq_train.training.concept.run import OPTIM_KEYS
from samhq_train.training.concept.trainable import CONCEPT_LORA, ConceptPolicy
from tests.training.helpers import CONF


def test_the_experiments_concept_settings_are_the_records_defaults():
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=concept_finetune"])
    values = OmegaConf.to_container(cfg.concept, resolve=True)
    assert values["lora"] == asdict(CONCEPT_LORA)
    assert {key: values[key] for key in OPTIM_KEYS} == asdict(ConceptOptimSettings())
    assert values["policy"] == ConceptPolicy().name
    assert values["with_masks"] == ConceptLossSettings().with_masks
