"""SAM 2's video training loss (MultiStepMultiMasksAndIous) over a clip's prediction steps.

For every frame and every prediction step (the first decode and each correction click), on the
full-size mask logits B x M x S x S (M candidates): a sigmoid focal loss (alpha 0.25, gamma 2,
mean over pixels) and a dice loss per candidate; only the candidate with the lowest
weighted focal + dice is back-propagated (SAM's rule); the L1 distance between each candidate's
predicted IoU and its actual IoU (the mean over all M with supervise_all_iou); these three only
for objects present in the GT frame; and the object-score logit against "the object is in the GT
frame" (BCE: focal with gamma 0, no alpha). Every term is divided by the number of objects B and
summed over steps and frames; under DDP B is the mean object count over the processes (at least
1), as SAM 2 all-reduces it, so that the averaged gradients are those of one process on all the
clips (that all-reduce also stops every process at a step where one failed to load its clip:
training/step_failures.py); the total weighs them (MOSE fine-tune: focal 20, dice 1, IoU 1,
object score 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from samhq_train.training.losses import sigmoid_focal_loss
from samhq_train.training.step_failures import mean_over_ranks_or_stop
from samhq_train.video_settings import LOSS_PREFIX, VideoLossSettings, check_bool, check_focal

from .clip_forward import FrameSteps

TERMS = ("loss_mask", "loss_dice", "loss_iou", "loss_class")


def soft_dice(logits, targets) -> torch.Tensor:
    """B x M x H x W -> B x M: 1 - (2 |p t| + 1) / (|p| + |t| + 1), p = sigmoid(logits)."""
    prob, targets = logits.sigmoid().flatten(2), targets.flatten(2)
    inter = 2 * (prob * targets).sum(-1)
    return 1 - (inter + 1) / (prob.sum(-1) + targets.sum(-1) + 1)


def actual_iou(logits, targets) -> torch.Tensor:
    """B x M x H x W -> B x M: IoU of (logits > 0) with the target (0 for an empty union)."""
    pred, gt = logits.flatten(2) > 0, targets.flatten(2) > 0
    inter = (pred & gt).sum(-1).float()
    union = (pred | gt).sum(-1).float()
    return inter / union.clamp(min=1.0)


@dataclass(frozen=True)
class MultiStepMaskLoss(VideoLossSettings):
    """The loss with its weights and options (VideoLossSettings: video.loss.*) and the focal
    terms' (defaults: the MOSE fine-tune config)."""

    focal_alpha: float = 0.25
    focal_gamma: float = 2.0
    pred_obj_scores: bool = True
    focal_alpha_obj_score: float = -1.0
    focal_gamma_obj_score: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_focal(self, "focal_alpha", "focal_gamma")
        check_focal(self, "focal_alpha_obj_score", "focal_gamma_obj_score")
        check_bool(f"{LOSS_PREFIX}.pred_obj_scores", self.pred_obj_scores)

    @property
    def weights(self) -> dict[str, float]:
        return dict(zip(TERMS, (self.weight_mask, self.weight_dice, self.weight_iou,
                                self.weight_class), strict=True))

    def __call__(self, frames: list[FrameSteps], gt_masks: torch.Tensor) -> dict[str, torch.Tensor]:
        """frames: the T frames' steps, gt_masks T x B x 1 x S x S -> {each term, "loss": the
        weighted sum}."""
        num_objects = max(mean_over_ranks_or_stop(gt_masks.shape[1], gt_masks.device), 1.0)
        totals = dict.fromkeys(TERMS, 0.0)
        for steps, gt in zip(frames, gt_masks, strict=True):
            gt = gt.float()
            for masks, ious, scores in zip(steps.multimasks, steps.ious, steps.object_scores,
                                           strict=True):
                for name, value in self.step_terms(masks, gt, ious, scores).items():
                    totals[name] = totals[name] + value / num_objects
        out = {name: torch.as_tensor(value, device=gt_masks.device) if not torch.is_tensor(value)
               else value for name, value in totals.items()}
        out["loss"] = sum(self.weights[name] * out[name] for name in TERMS if self.weights[name])
        return out

    def step_terms(self, masks, gt, ious, scores) -> dict[str, torch.Tensor]:
        """One step's four terms summed over the B objects (not yet divided by B)."""
        target = gt.expand_as(masks)
        focal = sigmoid_focal_loss(masks, target, self.focal_alpha, self.focal_gamma)
        focal = focal.flatten(2).mean(-1)
        dice = soft_dice(masks, target)
        iou_error = ious - actual_iou(masks, target)
        iou = iou_error.abs() if self.iou_use_l1_loss else iou_error**2
        present = gt.flatten(1).any(dim=1, keepdim=True).float()  # B x 1
        if not self.pred_obj_scores:  # every object counts as present
            present = torch.ones_like(present)
            cls = masks.new_zeros(())
        else:
            cls = sigmoid_focal_loss(scores, present, self.focal_alpha_obj_score,
                                self.focal_gamma_obj_score).mean(1).sum()
        if masks.shape[1] > 1:
            best = (focal * self.weight_mask + dice * self.weight_dice).argmin(dim=-1, keepdim=True)
            focal, dice = focal.gather(1, best), dice.gather(1, best)
            iou = iou.mean(-1, keepdim=True) if self.supervise_all_iou else iou.gather(1, best)
        return {"loss_mask": (focal * present).sum(), "loss_dice": (dice * present).sum(),
                "loss_iou": (iou * present).sum(), "loss_class": cls}
