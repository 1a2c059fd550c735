"""Training: the official point-sampled loss, the LightningModule (module.SamHQModule) and its
optional correction-click rounds (correction.py).

The package does not import module itself, so that what trains without Lightning (the demo base,
samhq-make-demo-base) starts without importing it: `from samhq_train.training.module import
SamHQModule`.
"""

from samhq_train.training.losses import (
    PointSampledMaskLoss,
    dice_loss,
    point_sample,
    sample_uncertain_points,
    sigmoid_bce_loss,
)

__all__ = [
    "PointSampledMaskLoss",
    "dice_loss",
    "point_sample",
    "sample_uncertain_points",
    "sigmoid_bce_loss",
]
