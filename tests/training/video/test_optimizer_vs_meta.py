"""Video fine-tuning's param groups against SAM 2's own optimiser construction: sam2 1.1.0's
training.optimizer.construct_optimizer with the `optim` section of its MOSE fine-tune config
(sam2.1_hiera_b+_MOSE_finetune.yaml, read from the installed package: lr / vision lr cosine
schedules, weight decay rules, layer decay 0.9 on image_encoder.trunk with the pos_embed
override) on Meta's miniature SAM 2.1, against ours on the same miniature with our config's
values: every parameter's learning rate along the schedule and its weight decay.

fvcore (the config's scheduler classes) is not a dependency: the two schedulers below are the
formulas of fvcore's CosineParamScheduler and ConstantParamScheduler.
"""

import math
from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from samhq_train.model import build_sam_hq
from samhq_train.training.video.optimizer import cosine_to_tenth, video_param_groups
from tests.training.helpers import CONF

sam2 = pytest.importorskip("sam2")
meta_optimizer = pytest.importorskip("training.optimizer")

from tests.model.sam2.test_meta_load import VARIANT, build_meta_miniature  # noqa: E402

MOSE = Path(sam2.__file__).parent / "configs" / "sam2.1_training" / \
    "sam2.1_hiera_b+_MOSE_finetune.yaml"
TOTAL_STEPS = 10


class CosineSchedule:
    def __init__(self, start_value: float, end_value: float) -> None:
        self.start, self.end = start_value, end_value

    def __call__(self, where: float) -> float:
        return self.end + 0.5 * (self.start - self.end) * (1 + math.cos(math.pi * where))


class ConstantSchedule:
    def __init__(self, value: float) -> None:
        self.value = value

    def __call__(self, where: float) -> float:
        return self.value


def meta_optim_section() -> dict:
    if not OmegaConf.has_resolver("divide"):
        OmegaConf.register_new_resolver("divide", lambda x, y: x / y)
    cfg = OmegaConf.load(MOSE)
    optim = OmegaConf.to_container(cfg.trainer.optim, resolve=True)
    stand_ins = {"fvcore.common.param_scheduler.CosineParamScheduler": CosineSchedule,
                 "fvcore.common.param_scheduler.ConstantParamScheduler": ConstantSchedule}
    for schedules in optim["options"].values():
        for entry in schedules:
            entry["scheduler"]["_target_"] = \
                f"{__name__}.{stand_ins[entry['scheduler']['_target_']].__name__}"
    return optim, cfg.scratch


def per_parameter(groups, names_of) -> dict[str, tuple[float, float]]:
    return {name: (group["lr"], group["weight_decay"])
            for group in groups for name in names_of(group)}


def test_param_groups_equal_meta_construct_optimizer(tmp_path):
    optim, scratch = meta_optim_section()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("train", overrides=["experiment=video_finetune",
                                          f"paths.output_dir={tmp_path}"])
    v = cfg.video
    assert (v.lr, v.vision_lr) == (scratch.base_lr, scratch.vision_lr)
    modifier = optim["param_group_modifiers"][0]
    assert v.layer_decay == modifier["layer_decay_value"]

    meta = build_meta_miniature().train()
    meta_names = {id(p): n for n, p in meta.named_parameters()}
    built = meta_optimizer.construct_optimizer(
        meta, optim["optimizer"], optim["options"], optim["param_group_modifiers"])
    ours = build_sam_hq(VARIANT, seed=0).requires_grad_(True)
    groups = video_param_groups(ours, lr=v.lr, vision_lr=v.vision_lr,
                                weight_decay=v.weight_decay, layer_decay=v.layer_decay)
    ours_at_start = per_parameter(groups, lambda g: g["param_names"])
    hq = {n for n in ours_at_start if n not in set(meta_names.values())}
    assert hq and all(n.startswith("sam_mask_decoder.") for n in hq)  # HQ-SAM 2's own parts
    assert {ours_at_start[n] for n in hq} <= {(v.lr, 0.0), (v.lr, v.weight_decay)}

    factor = cosine_to_tenth(TOTAL_STEPS)
    scales = set()
    for step in (0, 3, 7, TOTAL_STEPS):
        built.step_schedulers(step / TOTAL_STEPS, step)
        theirs = per_parameter(built.optimizer.param_groups,
                               lambda g: [meta_names[id(p)] for p in g["params"]])
        assert len(theirs) == len(meta_names)
        for name, (lr, wd) in theirs.items():
            our_lr, our_wd = ours_at_start[name]
            assert our_wd == wd, (name, our_wd, wd)
            assert our_lr * factor(step) == pytest.approx(lr, rel=1e-12, abs=0), (name, step)
            scales.add(round(our_lr / (v.vision_lr if name.startswith("image_") else v.lr), 9))
    assert len(scales) == 8  # 1 and the decays of the patch embedding and 6 blocks
    no_decay = {n for n, (_, wd) in theirs.items() if wd == 0}
    assert any(n.endswith("norm1.weight") for n in no_decay)  # nn.LayerNorm
    assert not any(n.endswith(".weight") and "image_encoder.neck" in n for n in no_decay)


def test_frozen_image_encoder_leaves_it_out():
    model = build_sam_hq(VARIANT, seed=0).requires_grad_(True)
    model.image_encoder.requires_grad_(False)
    groups = video_param_groups(model, lr=1e-3, vision_lr=1e-4, weight_decay=0.1,
                                layer_decay=0.9)
    names = [n for g in groups for n in g["param_names"]]
    assert names and not any(n.startswith("image_encoder.") for n in names)
    assert len(names) == sum(p.requires_grad for p in model.parameters())
    assert torch.optim.AdamW(groups).param_groups[0]["param_names"]
