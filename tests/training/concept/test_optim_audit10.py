"""Mutation audit (round 10) of concept fine-tuning's optimiser settings and schedule
(training/concept/optimizer.py, schedule.py): each setting's range refused in one line naming
its key (and its edge accepted), an optimiser over no trainable parameter refused, the
clipping handed to Lightning, a schedule of no step refused, one without warmup as Meta's, and
no weight decay for exact LayerNorms only."""

import math

import pytest
from torch import nn

from samhq_train.concept_settings import ConceptOptimSettings
from samhq_train.settings import SettingError
from samhq_train.training.concept.optimizer import (
    concept_optimizer,
    concept_param_groups,
    lightning_clipping,
)
from samhq_train.training.concept.schedule import concept_lr_lambda


@pytest.mark.parametrize("key, value, accepted", [
    ("layer_decay", 1.5, "a number in (0, 1]"),
    ("weight_decay", -0.1, "a number >= 0"),
    ("scheduler_timescale", 0, "an integer >= 1"),
    ("scheduler_warmup", -1, "an integer >= 0"),
    ("scheduler_cooldown", 2.0, "an integer >= 0"),
    ("scheduler_warmup", True, "an integer >= 0"),
    ("lr_transformer", math.nan, "a number > 0"),
    ("lr_language_backbone", math.inf, "a number > 0"),
    ("lr_vision_backbone", 0.0, "a number > 0"),
    ("gradient_clip", True, "a number > 0"),
])
def test_settings_out_of_range_are_one_line_naming_the_key(key, value, accepted):
    with pytest.raises(SettingError) as err:
        ConceptOptimSettings.from_config(**{key: value})
    shown = "true" if value is True else value  # as the user wrote it in yaml
    assert str(err.value) == f"concept.{key}={shown}: expected {accepted}"


def test_the_edges_of_the_ranges_are_accepted():
    s = ConceptOptimSettings(layer_decay=1, weight_decay=0, scheduler_timescale=1,
                             scheduler_warmup=0, scheduler_cooldown=0)
    assert (s.layer_decay, s.weight_decay, s.scheduler_warmup) == (1, 0, 0)


def _frozen_trunk_model() -> nn.Module:
    trunk = nn.Module()
    trunk.blocks = nn.ModuleList([nn.Linear(2, 2)])
    vision = nn.ModuleDict({"trunk": trunk})
    return nn.ModuleDict({"detector": nn.ModuleDict({
        "backbone": nn.ModuleDict({"vision_backbone": vision})})}).requires_grad_(False)


def test_an_optimiser_of_nothing_is_refused():
    model = _frozen_trunk_model()
    with pytest.raises(ValueError, match="no trainable parameters: apply a concept policy"):
        concept_optimizer(model, steps_per_epoch=2, epochs=1)
    model.requires_grad_(True)
    optimizer, _ = concept_optimizer(model, steps_per_epoch=2, epochs=1)
    assert sum(len(g["params"]) for g in optimizer.param_groups) == 2


def test_lightning_clips_by_the_norm():
    assert lightning_clipping(ConceptOptimSettings(gradient_clip=0.5)) == {
        "gradient_clip_val": 0.5, "gradient_clip_algorithm": "norm"}


@pytest.mark.parametrize("steps_per_epoch, epochs", [(0, 3), (4, 0)])
def test_a_schedule_without_steps_is_refused(steps_per_epoch, epochs):
    with pytest.raises(ValueError, match="a schedule needs steps_per_epoch >= 1 and epochs >= 1"):
        concept_lr_lambda(steps_per_epoch, epochs)


def test_a_schedule_without_warmup_equals_metas():
    """warmup 0 (the recipe's is 20): the first step's lr is not 0 but the cooldown's share of
    Meta's total of 1 step at where 0; every step as Meta's scheduler at its trainer's (step,
    where)."""
    schedulers = pytest.importorskip("sam3.train.optim.schedulers")
    meta = schedulers.InverseSquareRootParamScheduler(
        base_lr=1.0, warmup_steps=0, cooldown_steps=3, timescale=7)
    steps_per_epoch, epochs = 7, 3
    ours = concept_lr_lambda(steps_per_epoch, epochs, timescale=7, warmup=0, cooldown=3)
    for step in range(steps_per_epoch * epochs):
        exact_epoch = step // steps_per_epoch + (step % steps_per_epoch) / steps_per_epoch
        expected = meta(int(exact_epoch * steps_per_epoch), exact_epoch / epochs)
        assert ours(step) == pytest.approx(expected, rel=1e-12), step
    assert ours(0) == pytest.approx(1 / 3)


class SubclassedLayerNorm(nn.LayerNorm):
    pass


def test_only_exact_layer_norms_lose_weight_decay():
    """Meta matches module_cls_names by type(module): a LayerNorm subclass keeps its decay (its
    bias, by name, does not). The groups come in ascending (lr, weight decay) order."""
    model = _frozen_trunk_model().requires_grad_(True)
    model["detector"]["head"] = nn.ModuleDict(
        {"norm": nn.LayerNorm(2), "other": SubclassedLayerNorm(2)})
    groups = concept_param_groups(model, ConceptOptimSettings(weight_decay=0.1))
    decay = {n: g["weight_decay"] for g in groups for n in g["param_names"]}
    assert decay["detector.head.norm.weight"] == decay["detector.head.other.bias"] == 0.0
    assert decay["detector.head.other.weight"] == 0.1
    keys = [(g["lr"], g["weight_decay"]) for g in groups]
    assert keys == sorted(keys) and len(keys) == 4  # one group a pair, ascending
