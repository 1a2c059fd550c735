"""The official SAM-HQ mask loss: BCE + dice at points chosen by uncertainty importance sampling.

PointRend-style (Kirillov et al. 2020), as the official train/utils/loss_mask.py: the low-res
logits (S/4 x S/4) and the full-resolution soft target are both read at the same continuous
points in [0, 1]^2 with bilinear grid_sample (align_corners=False, zero padding), so the logits
are never upsampled to the target size.
"""

import torch
import torch.nn.functional as F
from torch import nn


def point_sample(values: torch.Tensor, coords: torch.Tensor) -> torch.Tensor:
    """Bilinear read of N x C x H x W `values` at N x P x 2 points (x, y) in [0, 1] -> N x C x P."""
    grid = (2.0 * coords - 1.0).unsqueeze(2)  # N x P x 1 x 2 in grid_sample's [-1, 1] frame
    return F.grid_sample(values, grid.to(values.dtype), align_corners=False).squeeze(3)


def sample_uncertain_points(
    logits: torch.Tensor,
    num_points: int,
    oversample_ratio: float,
    importance_sample_ratio: float,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """N x P x 2 points in [0, 1]^2: the most uncertain of an oversampled uniform set, plus uniform ones.

    Of `num_points`, int(importance_sample_ratio * num_points) are the points with the smallest
    |logit| among int(oversample_ratio * num_points) uniform candidates (the uncertainty is read at
    each candidate, not on the grid), the rest are drawn uniformly.
    """
    if oversample_ratio < 1 or not 0 <= importance_sample_ratio <= 1:
        raise ValueError(
            f"need oversample_ratio >= 1 and importance_sample_ratio in [0, 1], got "
            f"{oversample_ratio} and {importance_sample_ratio}"
        )
    n = logits.shape[0]
    num_candidates = int(num_points * oversample_ratio)
    num_uncertain = int(importance_sample_ratio * num_points)
    device = logits.device
    candidates = torch.rand(n, num_candidates, 2, device=device, generator=generator)
    uncertainty = -point_sample(logits, candidates)[:, 0].abs()  # N x num_candidates
    index = uncertainty.topk(num_uncertain, dim=1).indices
    chosen = candidates.gather(1, index.unsqueeze(-1).expand(-1, -1, 2))
    uniform = torch.rand(n, num_points - num_uncertain, 2, device=device, generator=generator)
    return torch.cat([chosen, uniform], dim=1)


def sigmoid_focal_loss(logits, targets, alpha: float, gamma: float) -> torch.Tensor:
    """Element-wise sigmoid focal loss of logits against targets in [0, 1] (Lin et al. 2017, as
    SAM 2's and SAM 3's training code): alpha weighs the positives, alpha < 0 leaves the classes
    unweighted."""
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    prob = logits.sigmoid()
    p_t = prob * targets + (1 - prob) * (1 - targets)
    loss = ce * (1 - p_t) ** gamma
    if alpha >= 0:
        loss = (alpha * targets + (1 - alpha) * (1 - targets)) * loss
    return loss


def sigmoid_bce_loss(
    point_logits: torch.Tensor, point_targets: torch.Tensor, num_masks: float
) -> torch.Tensor:
    """BCE with logits, mean over the points of each mask, summed over masks, / num_masks. N x P inputs."""
    loss = F.binary_cross_entropy_with_logits(point_logits, point_targets, reduction="none")
    return loss.mean(1).sum() / num_masks


def dice_loss(
    point_logits: torch.Tensor, point_targets: torch.Tensor, num_masks: float
) -> torch.Tensor:
    """1 - (2 sum(p t) + 1) / (sum(p) + sum(t) + 1) per mask, p = sigmoid(logits), summed, / num_masks."""
    probs = point_logits.sigmoid().flatten(1)
    targets = point_targets.flatten(1)
    numerator = 2 * (probs * targets).sum(-1) + 1
    denominator = probs.sum(-1) + targets.sum(-1) + 1
    return (1 - numerator / denominator).sum() / num_masks


class PointSampledMaskLoss(nn.Module):
    """loss = bce_weight * BCE + dice_weight * dice on uncertainty-sampled points (official: 1 and 1).

    forward(logits N x 1 x h x w, target N x 1 x H x W in [0, 1]) -> dict with "loss", "loss_bce",
    "loss_dice". num_masks defaults to N (the official normalisation, per process).
    """

    def __init__(
        self,
        *,
        num_points: int = 112 * 112,
        oversample_ratio: float = 3.0,
        importance_sample_ratio: float = 0.75,
        bce_weight: float = 1.0,
        dice_weight: float = 1.0,
    ) -> None:
        super().__init__()
        self.num_points = num_points
        self.oversample_ratio = oversample_ratio
        self.importance_sample_ratio = importance_sample_ratio
        self.bce_weight = bce_weight
        self.dice_weight = dice_weight

    def forward(
        self,
        logits: torch.Tensor,
        target: torch.Tensor,
        num_masks: float | None = None,
        generator: torch.Generator | None = None,
    ) -> dict[str, torch.Tensor]:
        if logits.dim() != 4 or logits.shape[1] != 1 or target.shape[:2] != logits.shape[:2]:
            raise ValueError(
                f"expected logits N x 1 x h x w and target N x 1 x H x W, got {tuple(logits.shape)} "
                f"and {tuple(target.shape)}"
            )
        num_masks = float(logits.shape[0]) if num_masks is None else num_masks
        logits = logits.float()
        with torch.no_grad():
            coords = sample_uncertain_points(
                logits,
                self.num_points,
                self.oversample_ratio,
                self.importance_sample_ratio,
                generator,
            )
            point_targets = point_sample(target.float(), coords)[:, 0]
        point_logits = point_sample(logits, coords)[:, 0]
        bce = sigmoid_bce_loss(point_logits, point_targets, num_masks)
        dice = dice_loss(point_logits, point_targets, num_masks)
        return {
            "loss": self.bce_weight * bce + self.dice_weight * dice,
            "loss_bce": bce,
            "loss_dice": dice,
        }
