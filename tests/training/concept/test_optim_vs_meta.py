"""Concept fine-tuning's optimiser against Meta's own construction: sam3 0.1.4's
construct_optimizer with the `optim` section of its roboflow_v100 full fine-tune recipe (values
transcribed below: the package ships no configs) on Meta's Sam3Image at the miniature's sizes,
stepped as its Trainer.train_epoch steps the schedulers, against ours (policy full) on our Sam3HQ
with the same weights: every trained parameter's lr at every step of a run, and its weight decay;
and the gradients after clipping, Lightning's against Meta's GradientClipper.

fvcore (the recipe's ConstantParamScheduler) is not a dependency: a stand-in with its formula.
"""

import pytest
import torch

pytest.importorskip("sam3")
meta_optim = pytest.importorskip("sam3.train.optim.optimizer")

from lightning.pytorch.plugins.precision import Precision  # noqa: E402

from samhq_train.concept_settings import ConceptOptimSettings  # noqa: E402
from samhq_train.training.concept.optimizer import (  # noqa: E402
    concept_optimizer,
    lightning_clipping,
)
from samhq_train.training.concept.trainable import apply_concept_policy  # noqa: E402

from .optim_models import meta_and_state, ours_attached, ours_name  # noqa: E402

STEPS_PER_EPOCH, EPOCHS = 7, 20  # 140 steps; at 7 per epoch Meta's step count rounds down at 61
SCHEDULERS = "sam3.train.optim.schedulers.InverseSquareRootParamScheduler"


class ConstantSchedule:
    def __init__(self, value: float) -> None:
        self.value = value

    def __call__(self, where: float) -> float:
        return self.value


def recipe_optim() -> tuple[dict, dict, list]:
    """(optimizer, options, param_group_modifiers) of the recipe's trainer.optim."""
    lr_scale = 0.1

    def inverse_sqrt(base_lr: float) -> dict:
        return {"_target_": SCHEDULERS, "base_lr": base_lr * lr_scale, "timescale": 20,
                "warmup_steps": 20, "cooldown_steps": 20}

    constant = f"{__name__}.ConstantSchedule"
    options = {
        "lr": [
            {"scheduler": inverse_sqrt(8e-4)},
            {"scheduler": inverse_sqrt(2.5e-4), "param_names": ["backbone.vision_backbone.*"]},
            {"scheduler": inverse_sqrt(5e-5), "param_names": ["backbone.language_backbone.*"]},
        ],
        "weight_decay": [
            {"scheduler": {"_target_": constant, "value": 0.1}},
            {"scheduler": {"_target_": constant, "value": 0.0}, "param_names": ["*bias*"],
             "module_cls_names": ["torch.nn.LayerNorm"]},
        ],
    }
    modifiers = [{
        "_target_": "sam3.train.optim.optimizer.layer_decay_param_modifier", "_partial_": True,
        "layer_decay_value": 0.9, "apply_to": "backbone.vision_backbone.trunk",
        "overrides": [{"pattern": "*pos_embed*", "value": 1.0}],
    }]
    return {"_target_": "torch.optim.AdamW"}, options, modifiers


def per_parameter(optimizer, name_of) -> dict[str, tuple[float, float]]:
    return {name_of(p): (g["lr"], g["weight_decay"]) for g in optimizer.param_groups
            for p in g["params"]}


def meta_steps(built):
    """Trainer.train_epoch's scheduler updates, one per optimiser step: yields the step."""
    for epoch in range(EPOCHS):
        for data_iter in range(STEPS_PER_EPOCH):
            exact_epoch = epoch + float(data_iter) / STEPS_PER_EPOCH
            where = float(exact_epoch) / EPOCHS
            assert where < 1.0
            built.step_schedulers(where, step=int(exact_epoch * STEPS_PER_EPOCH))
            yield epoch * STEPS_PER_EPOCH + data_iter


def test_lr_and_weight_decay_equal_meta_at_every_step():
    meta, _ = meta_and_state()
    built = meta_optim.construct_optimizer(meta, *recipe_optim())
    meta_names = {id(p): ours_name(n) for n, p in meta.named_parameters()}
    model, _ = ours_attached()
    apply_concept_policy(model, "full")
    optimizer, scheduler = concept_optimizer(model, STEPS_PER_EPOCH, EPOCHS)
    our_names = {id(p): n for n, p in model.named_parameters()}
    trained = {n for n, p in model.named_parameters() if p.requires_grad}
    # full trains Meta's parameters but its interactive path's (no gradient there)
    untrained = set(meta_names.values()) - trained
    assert trained < set(meta_names.values()) and untrained
    assert all(n.startswith(("tracker.", "detector.backbone.vision_backbone.sam2_convs."))
               for n in untrained)

    scales, compared = set(), 0
    for step in meta_steps(built):
        theirs = per_parameter(built.optimizer, lambda p: meta_names[id(p)])
        ours = per_parameter(optimizer, lambda p: our_names[id(p)])
        assert set(ours) == trained
        for name, (lr, wd) in ours.items():
            their_lr, their_wd = theirs[name]
            assert wd == their_wd, (name, wd, their_wd)
            assert lr == pytest.approx(their_lr, rel=1e-12, abs=0), (name, step, lr, their_lr)
            compared += 1
            if step == 20:
                scales.add(round(lr, 15))
        optimizer.step()  # no gradients: nothing moves
        scheduler.step()
    assert step == STEPS_PER_EPOCH * EPOCHS - 1 and compared == len(trained) * (step + 1)
    # transformer, language, the vision necks and pos_embed at 1, the trunk's 4 blocks and its
    # layer-0 parameters decayed
    assert len(scales) == 3 + 4 + 1
    no_decay = {n for n, (_, wd) in ours.items() if wd == 0}
    assert "detector.backbone.vision_backbone.trunk.blocks.0.norm1.weight" in no_decay
    assert "detector.backbone.language_backbone.encoder.ln_final.weight" in no_decay


def test_schedule_points():
    """The recipe's schedule at the brief's steps: 0 at the first step, the base at step 20,
    then 1 / sqrt(step / 20), ramped down over the last 20 steps to 1 / 20 of that."""
    model, _ = ours_attached()
    apply_concept_policy(model, "full")
    optimizer, scheduler = concept_optimizer(model, STEPS_PER_EPOCH, EPOCHS)
    base = ConceptOptimSettings().lr_transformer
    group = next(g for g in optimizer.param_groups
                 if "detector.transformer.decoder.query_embed.weight" in g["param_names"])
    assert group["initial_lr"] == base
    last = STEPS_PER_EPOCH * EPOCHS - 1
    seen = {}
    for step in range(last + 3):
        seen[step] = group["lr"]
        optimizer.step()
        scheduler.step()
    expected = {0: 0.0, 1: base / 20, 19: base * 19 / 20, 20: base, 21: base / (21 / 20) ** 0.5,
                100: base / 5 ** 0.5, last: base / (last / 20) ** 0.5 / 20}
    for step, lr in expected.items():
        assert seen[step] == pytest.approx(lr, rel=1e-12, abs=0), step
    assert seen[last + 2] == seen[last]  # past the run's end the lr stays


def test_clipped_gradients_equal_meta_gradient_clipper():
    meta, _ = meta_and_state()
    model, _ = ours_attached()
    apply_concept_policy(model, "full")
    optimizer, _ = concept_optimizer(model, STEPS_PER_EPOCH, EPOCHS)
    ours = dict(model.named_parameters())
    generator = torch.Generator().manual_seed(0)
    clipping = lightning_clipping()
    assert clipping == {"gradient_clip_val": 0.1, "gradient_clip_algorithm": "norm"}
    for scale in (1.0, 1e-5):  # clipped (norm >> 0.1), and left as it is (norm < 0.1)
        meta.zero_grad(set_to_none=True)
        model.zero_grad(set_to_none=True)
        for name, param in meta.named_parameters():
            twin = ours[ours_name(name)]
            if twin.requires_grad:  # the parameters the detection loss reaches
                param.grad = torch.randn(param.shape, generator=generator) * scale
                twin.grad = param.grad.clone()
        before = {n: p.grad.clone() for n, p in ours.items() if p.grad is not None}
        meta_optim.GradientClipper(max_norm=0.1, norm_type=2)(meta)
        Precision().clip_gradients(optimizer, clipping["gradient_clip_val"],
                                   clipping["gradient_clip_algorithm"])
        worst = 0.0
        for name, param in meta.named_parameters():
            twin = ours[ours_name(name)]
            if param.grad is None:
                assert twin.grad is None
                continue
            worst = max(worst, (param.grad - twin.grad).abs().max().item())
            changed = not torch.equal(twin.grad, before[ours_name(name)])
            assert changed == (scale == 1.0), name
        assert worst <= 1e-9 * scale, worst
