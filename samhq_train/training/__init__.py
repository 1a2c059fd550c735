"""Training: the official point-sampled loss, the LightningModule and its optional correction-click
rounds (correction.py)."""

from samhq_train.training.losses import (
    PointSampledMaskLoss,
    dice_loss,
    point_sample,
    sample_uncertain_points,
    sigmoid_bce_loss,
)
from samhq_train.training.module import SamHQModule

__all__ = [
    "PointSampledMaskLoss",
    "SamHQModule",
    "dice_loss",
    "point_sample",
    "sample_uncertain_points",
    "sigmoid_bce_loss",
]
