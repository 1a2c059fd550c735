"""The video training forward and loss against SAM 2's own training code (sam2 1.1.0's `training`
package): SAM2Train and MultiStepMultiMasksAndIous on the same random miniature SAM 2.1, in
training mode, fp32. Both draw their prompts from the same random streams (SAM2Train's numpy
Generator, seeded alike, and torch's global generator for box noise and clicks), so the same
plan, clicks and corrections are made: each loss term and the gradient of every parameter must
agree.

The memory attention's dropout and Hiera's drop-path are 0 on both sides, but in one case with
0.1 on both (the MOSE config's values). HQ-SAM 2: Meta's SAM2Train with its mask decoder swapped for
an adapter running our MaskDecoderHQ with hq_token_only=False (as in the video inference parity
test), which the official HQ-SAM 2 video code is.

`training` imports tensordict at module level for its batch dataclass, which neither side uses
here (SAM2Train.forward reads four attributes of its input): a stand-in module is registered when
tensordict is not installed.
"""

import sys
import types

import numpy as np
import pytest
import torch

from samhq_train.model import build_sam_hq, without_hq
from samhq_train.training.video import ClipForward, MultiStepMaskLoss, plan_clip
from samhq_train.video_settings import ClipPromptSettings
from tests.reference import randomize_

pytest.importorskip("sam2")
if "tensordict" not in sys.modules:
    try:
        import tensordict  # noqa: F401
    except ImportError:
        sys.modules["tensordict"] = types.SimpleNamespace(tensorclass=lambda cls: cls)
from hydra import initialize_config_module  # noqa: E402
from hydra.utils import instantiate  # noqa: E402
from training.loss_fns import MultiStepMultiMasksAndIous  # noqa: E402

from tests.inference.video.test_parity_meta import DecoderAdapter  # noqa: E402
from tests.model.sam2.test_meta_load import META_CONFIG, MINIATURE, VARIANT  # noqa: E402

ATOL_LOSS = 1e-5
ATOL_GRAD = 1e-5  # relative to the largest gradient of each parameter (and at least this)
NUM_FRAMES, NUM_OBJECTS, SIZE = 4, 2, 256
CASES = {  # name: prompt settings
    "mask": ClipPromptSettings(prob_to_use_pt_input=0.0, num_init_cond_frames=2),
    "box": ClipPromptSettings(prob_to_use_pt_input=1.0, prob_to_use_box_input=1.0,
                              num_correction_pt_per_frame=2, prob_to_sample_from_gt=0.0),
    "clicks": ClipPromptSettings(prob_to_use_pt_input=1.0, prob_to_use_box_input=0.0,
                                 num_init_cond_frames=1, num_frames_to_correct=3,
                                 rand_frames_to_correct=False, num_correction_pt_per_frame=2,
                                 prob_to_sample_from_gt=0.5),
    "mose": ClipPromptSettings(num_correction_pt_per_frame=2),
}
SEEDS = {"mask": 3, "box": 0, "clicks": 1, "mose": 5}


def meta_sam2train(settings: ClipPromptSettings, regularization: float = 0.0, size: int = SIZE):
    s = settings
    overrides = [o for o in MINIATURE if not o.startswith("++model.image_size=")] + [
        f"++model.image_size={size}",
        "++model._target_=training.model.sam2.SAM2Train",
        f"++model.prob_to_use_pt_input_for_train={s.prob_to_use_pt_input}",
        f"++model.prob_to_use_box_input_for_train={s.prob_to_use_box_input}",
        f"++model.num_frames_to_correct_for_train={s.num_frames_to_correct}",
        f"++model.rand_frames_to_correct_for_train={s.rand_frames_to_correct}",
        f"++model.num_init_cond_frames_for_train={s.num_init_cond_frames}",
        f"++model.rand_init_cond_frames_for_train={s.rand_init_cond_frames}",
        f"++model.add_all_frames_to_correct_as_cond={s.add_all_frames_to_correct_as_cond}",
        f"++model.num_correction_pt_per_frame={s.num_correction_pt_per_frame}",
        f"++model.prob_to_sample_from_gt_for_train={s.prob_to_sample_from_gt}",
        f"++model.memory_attention.layer.dropout={regularization}",
        f"++model.memory_attention.layer.self_attention.dropout={regularization}",
        f"++model.memory_attention.layer.cross_attention.dropout={regularization}",
        f"++model.image_encoder.trunk.drop_path_rate={regularization}",
    ]
    from hydra import compose
    from omegaconf import OmegaConf

    with initialize_config_module("sam2", version_base="1.2"):
        cfg = compose(config_name=META_CONFIG, overrides=overrides)
    OmegaConf.resolve(cfg)
    return instantiate(cfg.model, _recursive_=True)


def clip(seed: int, size: int = SIZE):
    """T x 1 x 3 x S x S frames (0-255) and T x B x 1 x S x S GT: two rectangles moving (drawn
    for 256 px, scaled to `size`)."""
    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (NUM_FRAMES, 1, 3, size, size), generator=gen).float()
    gt = torch.zeros(NUM_FRAMES, NUM_OBJECTS, 1, size, size, dtype=torch.bool)

    def at(*pixels):  # a 256 px box's rows and columns at `size`
        y0, y1, x0, x1 = (p * size // SIZE for p in pixels)
        return slice(y0, y1), slice(x0, x1)

    for t in range(NUM_FRAMES):
        gt[(t, 0, 0, *at(40 + 6 * t, 120 + 6 * t, 30 + 8 * t, 140 + 8 * t))] = True
        if t != 2:  # the second object leaves on frame 2
            gt[(t, 1, 0, *at(150, 220, 160 - 5 * t, 230 - 5 * t))] = True
    return images, gt


def run_ours(model, settings, images, gt, seed, use_hq):
    rng = np.random.default_rng(42)
    torch.manual_seed(seed)
    plan = plan_clip(gt, settings, rng)
    forward = ClipForward(model, settings, use_hq=use_hq)
    frames = forward(images, gt, torch.zeros(NUM_OBJECTS, dtype=torch.long), plan, rng)
    return MultiStepMaskLoss()(frames, gt), plan


def run_meta(meta, model, images, gt, seed):
    meta.rng = np.random.default_rng(42)
    torch.manual_seed(seed)
    batch = types.SimpleNamespace(
        flat_img_batch=model.preprocess(images.flatten(0, 1)),
        masks=gt[:, :, 0],
        num_frames=NUM_FRAMES,
        flat_obj_to_img_idx=torch.arange(NUM_FRAMES)[:, None].expand(-1, NUM_OBJECTS),
    )
    outputs = meta(batch)
    return meta_multistep_loss()(outputs, gt[:, :, 0])


def meta_multistep_loss() -> MultiStepMultiMasksAndIous:
    """SAM 2's video loss with the MOSE fine-tune's weights (MultiStepMaskLoss's defaults)."""
    return MultiStepMultiMasksAndIous(
        {"loss_mask": 20, "loss_dice": 1, "loss_iou": 1, "loss_class": 1},
        supervise_all_iou=True, iou_use_l1_loss=True, pred_obj_scores=True,
        focal_gamma_obj_score=0.0, focal_alpha_obj_score=-1.0,
    )


@pytest.mark.parametrize("use_hq", [False, True], ids=["sam2.1", "hq-sam2"])
@pytest.mark.parametrize("case", [*CASES, "mose-dropout"])
def test_loss_and_gradients_match_sam2train(case, use_hq):
    # mose-dropout: the MOSE case with drop-path and dropout 0.1 on both sides (its draws from
    # torch's generator interleave with the prompts' in the same order)
    regularization = 0.1 if case.endswith("-dropout") else 0.0
    case = case.removesuffix("-dropout")
    settings, seed = CASES[case], SEEDS[case]
    model = randomize_(build_sam_hq(VARIANT, seed=0), seed=1).train().requires_grad_(True)
    model.image_encoder.trunk.set_drop_path_rate(regularization)
    model.memory_attention.set_dropout(regularization)
    meta = meta_sam2train(settings, regularization)
    meta.load_state_dict(without_hq(model.state_dict()), strict=True)
    if use_hq:
        meta.sam_mask_decoder = DecoderAdapter(model.sam_mask_decoder)
    meta.train()
    images, gt = clip(seed)

    ours, plan = run_ours(model, settings, images, gt, seed, use_hq)
    ours["loss"].backward()
    our_grads = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    theirs = run_meta(meta, model, images, gt, seed)
    theirs["core_loss"].backward()
    their_grads = {k: p.grad for k, p in meta.named_parameters() if p.grad is not None}
    if use_hq:  # the adapter's parameters are ours
        their_grads = {k.replace("sam_mask_decoder.decoder.", "sam_mask_decoder."): p.grad
                       for k, p in meta.named_parameters() if p.grad is not None}

    report = {}
    for name in ("loss_mask", "loss_dice", "loss_iou", "loss_class"):
        report[name] = abs(float(ours[name].detach()) - float(theirs[name].detach()))
        assert report[name] <= ATOL_LOSS * max(1.0, abs(float(theirs[name]))), (name, report)
    report["loss"] = abs(float(ours["loss"].detach()) - float(theirs["core_loss"].detach()))
    assert set(our_grads) == set(their_grads)
    worst = 0.0
    for name, grad in our_grads.items():
        diff = float((grad - their_grads[name]).abs().max())
        scale = max(float(their_grads[name].abs().max()), 1.0)
        worst = max(worst, diff / scale)
        assert diff <= ATOL_GRAD * scale, (name, diff, scale)
    print(case, "hq" if use_hq else "sam2.1", plan.use_points, plan.init_cond_frames,
          plan.frames_to_correct, {k: f"{v:.2e}" for k, v in report.items()},
          f"grad {worst:.2e} over {len(our_grads)} tensors")
