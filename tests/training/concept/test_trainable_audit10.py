"""Mutation audit (round 10) of training/concept/trainable.py: LoRA settings that do not fit the
model are one ValueError line naming concept.lora."""

import pytest

from samhq_train.concept_settings import ConceptPolicy
from samhq_train.model.policy import LoraSettings
from samhq_train.training.concept.trainable import prepare_concept_model

pytest.importorskip("sam3")

from .optim_models import ours_attached  # noqa: E402


def test_lora_settings_that_do_not_fit_name_the_key():
    model, _ = ours_attached()
    policy = ConceptPolicy("detector+lora", LoraSettings(targets="detector.nothing.*"))
    with pytest.raises(ValueError, match=r"^concept\.lora: .*detector\.nothing") as err:
        prepare_concept_model(model, policy)
    assert "\n" not in str(err.value)
