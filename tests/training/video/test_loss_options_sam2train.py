"""MultiStepMaskLoss under each of its options against SAM 2's MultiStepMultiMasksAndIous (sam2
1.1.0's `training` package) on the same random prediction steps (mutation audit round 6): the
parity test runs the MOSE settings only; here MSE IoU loss, the chosen mask's IoU only, no
object-score term, alpha 0 and unweighted focal, one or three candidate masks, an absent object."""

import sys
import types

import pytest
import torch

from samhq_train.training.video import FrameSteps, MultiStepMaskLoss

pytest.importorskip("sam2")
if "tensordict" not in sys.modules:
    try:
        import tensordict  # noqa: F401
    except ImportError:  # `training` imports it for a dataclass neither side uses here
        sys.modules["tensordict"] = types.SimpleNamespace(tensorclass=lambda cls: cls)
from training.loss_fns import MultiStepMultiMasksAndIous  # noqa: E402

OPTIONS = {
    "mose": {},
    "mse iou": {"iou_use_l1_loss": False},
    "chosen iou": {"supervise_all_iou": False},
    "no object score": {"pred_obj_scores": False},
    "alpha 0": {"focal_alpha": 0.0},
    "unweighted focal": {"focal_alpha": -1.0, "focal_gamma": 1.0},
    "object score focal": {"focal_alpha_obj_score": 0.5, "focal_gamma_obj_score": 2.0},
    "weights": {"weight_mask": 5.0, "weight_dice": 0.0, "weight_iou": 3.0, "weight_class": 2.0},
}


def steps(num_frames: int, num_steps: int, objects: int, masks: int, size: int, seed: int):
    gen = torch.Generator().manual_seed(seed)
    gt = torch.zeros(num_frames, objects, 1, size, size, dtype=torch.bool)
    gt[:, 0, 0, 2:9, 3:11] = True
    gt[1, 1, 0, 5:12, 1:6] = True  # the second object shows on frame 1 only
    frames = [
        FrameSteps(
            multimasks=[torch.randn(objects, masks, size, size, generator=gen) * 4
                        for _ in range(num_steps)],
            ious=[torch.rand(objects, masks, generator=gen) for _ in range(num_steps)],
            object_scores=[torch.randn(objects, 1, generator=gen) for _ in range(num_steps)],
        )
        for _ in range(num_frames)
    ]
    return frames, gt


def metas(frames, gt, options: MultiStepMaskLoss):
    loss = MultiStepMultiMasksAndIous(
        {"loss_mask": options.weight_mask, "loss_dice": options.weight_dice,
         "loss_iou": options.weight_iou, "loss_class": options.weight_class},
        focal_alpha=options.focal_alpha, focal_gamma=options.focal_gamma,
        supervise_all_iou=options.supervise_all_iou, iou_use_l1_loss=options.iou_use_l1_loss,
        pred_obj_scores=options.pred_obj_scores,
        focal_gamma_obj_score=options.focal_gamma_obj_score,
        focal_alpha_obj_score=options.focal_alpha_obj_score,
    )
    outs = [{"multistep_pred_multimasks_high_res": f.multimasks, "multistep_pred_ious": f.ious,
             "multistep_object_score_logits": f.object_scores} for f in frames]
    return loss(outs, gt[:, :, 0])


@pytest.mark.parametrize("masks", [1, 3])
@pytest.mark.parametrize("name", list(OPTIONS))
def test_each_option_equals_sam2s_loss(name, masks):
    options = MultiStepMaskLoss(**OPTIONS[name])
    frames, gt = steps(num_frames=3, num_steps=2, objects=2, masks=masks, size=16, seed=masks)
    ours, theirs = options(frames, gt), metas(frames, gt, options)
    for term in ("loss_mask", "loss_dice", "loss_iou", "loss_class"):
        assert float(ours[term]) == pytest.approx(float(theirs[term]), rel=1e-5, abs=1e-7), term
    total = sum(float(theirs[t]) * w for t, w in options.weights.items())
    assert float(ours["loss"]) == pytest.approx(total, rel=1e-5)
    assert float(ours["loss_iou"]) > 0 and float(ours["loss_mask"]) > 0
