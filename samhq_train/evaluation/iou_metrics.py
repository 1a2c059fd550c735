"""Mask IoU and boundary IoU as torchmetrics Metrics: the mean over images of metrics.py's
per-image scores (validation and the benchmark)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import rank_zero_warn

from samhq_train.constants import BOUNDARY_DILATION_RATIO, GT_THRESHOLD
from samhq_train.evaluation.metrics import boundary_iou, mask_iou

__all__ = ["BoundaryIoU", "MaskIoU"]


def _as_batch(x: Tensor) -> Tensor:
    """H x W -> 1 x H x W; B x 1 x H x W -> B x H x W; B x H x W unchanged."""
    if x.ndim == 2:
        return x[None]
    if x.ndim == 4 and x.shape[1] == 1:
        return x[:, 0]
    if x.ndim == 3:
        return x
    raise ValueError(f"expected H x W, B x H x W or B x 1 x H x W, got {tuple(x.shape)}")


def _pairs(
    preds: Tensor | Sequence[Tensor], target: Tensor | Sequence[Tensor]
) -> Iterator[tuple[Tensor, Tensor]]:
    if isinstance(preds, Tensor) != isinstance(target, Tensor):
        raise ValueError("preds and target must both be tensors or both be sequences of tensors")
    if isinstance(preds, Tensor):
        yield _as_batch(preds), _as_batch(target)
        return
    if len(preds) != len(target):
        raise ValueError(f"got {len(preds)} predictions but {len(target)} targets")
    for p, t in zip(preds, target):
        yield _as_batch(p), _as_batch(t)


class _PerImageMetric(Metric):
    """Mean over images of a per-image score; states are a float64 sum, a count and the number of
    images whose prediction held a NaN (a diverged model), reported by ``compute``."""

    is_differentiable = False
    higher_is_better = True
    full_state_update = False

    def __init__(
        self,
        *,
        threshold: float | None = None,
        from_logits: bool = True,
        label: str | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.label = label or type(self).__name__  # names the metric in compute's warning
        if threshold is None:
            threshold = 0.0 if from_logits else 0.5
        if not from_logits and not 0.0 <= threshold <= 1.0:
            raise ValueError(f"a probability threshold must lie in [0, 1], got {threshold}")
        self.threshold = float(threshold)
        self.from_logits = from_logits
        self.add_state("score_sum", torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")
        self.add_state("nan_images", torch.tensor(0, dtype=torch.long), dist_reduce_fx="sum")

    def _score(self, pred: Tensor, gt: Tensor) -> Tensor:
        raise NotImplementedError

    def _binarize_pred(self, pred: Tensor) -> Tensor:
        if pred.dtype == torch.bool:
            return pred
        if not self.from_logits and (pred.min() < 0 or pred.max() > 1):
            raise ValueError(
                "from_logits=False expects probabilities in [0, 1], got values in "
                f"[{pred.min().item():.3g}, {pred.max().item():.3g}]"
            )
        return pred > self.threshold

    @staticmethod
    def _binarize_target(target: Tensor) -> Tensor:
        if target.dtype == torch.bool:
            return target
        if target.dtype == torch.uint16:  # torch has no max() for it
            target = target.to(torch.int32)
        top = target.max().item() if target.numel() else 0
        if top > 255:
            raise ValueError(
                f"target has values up to {top:.6g}, beyond 0-255 (a 16-bit mask?); pass GT as "
                "8-bit values 0-255 (> 128 = foreground) or as a bool mask"
            )
        if 0 < top <= 1:
            raise ValueError(
                "target looks like a 0-1 mask; pass GT as 0-255 values (> 128 = foreground) "
                "or as a bool mask"
            )
        return target > GT_THRESHOLD

    def update(self, preds: Tensor | Sequence[Tensor], target: Tensor | Sequence[Tensor]) -> None:
        """Add one value per image.

        Args:
            preds: logits (``from_logits=True``) or probabilities, or bool masks, as
                B x H x W (or B x 1 x H x W, or H x W); or a list of such tensors, whose sizes may
                differ from one element to the next.
            target: GT masks 0-255 (> 128 = foreground) or bool, shaped like ``preds``. A
                non-bool target whose maximum lies in (0, 1] is refused as a likely 0-1 mask
                (it would silently count as empty), one above 255 as a 16-bit mask.

        A NaN in a prediction counts as background there (NaN > threshold is false, as in the
        official evaluation); the image is counted in ``nan_images`` and ``compute`` warns.

        The per-image values of this call stay in ``last_scores`` (a plain list, not a synced
        state), so a caller that also wants them per image need not compute them twice.

        Raises:
            ValueError: prediction and GT sizes differ (both shapes are named), probabilities
                outside [0, 1] with ``from_logits=False``, a 0-1 target or one above 255.
        """
        self.last_scores = []
        for pred, gt in _pairs(preds, target):
            if pred.is_floating_point():
                self.nan_images += pred.isnan().flatten(1).any(1).sum()
            scores = self._score(self._binarize_pred(pred), self._binarize_target(gt))
            self.score_sum += scores.sum(dtype=torch.float64)
            self.count += scores.numel()
            self.last_scores.extend(scores.tolist())

    def compute(self) -> Tensor:
        """Mean over all images seen (all processes); NaN before any image. Warns when some
        predictions held NaN (their NaN pixels were scored as background)."""
        if self.nan_images > 0:
            rank_zero_warn(
                f"{self.label}: {int(self.nan_images)} of {int(self.count)} images had "
                "NaN in their predicted logits (a diverged model?); NaN pixels were scored as "
                "background, as in the official evaluation"
            )
        if self.count == 0:
            return torch.tensor(float("nan"), dtype=torch.float64, device=self.score_sum.device)
        return self.score_sum / self.count


class MaskIoU(_PerImageMetric):
    """Mean over images of the per-image mask IoU (the benchmarks' mIoU).

    Args:
        threshold: foreground is ``preds > threshold``; in logit units when ``from_logits``
            (default 0.0, i.e. probability 0.5, the official rule), else a probability
            (default 0.5). Ignored for bool predictions.
        from_logits: whether ``preds`` are logits (True) or probabilities in [0, 1] (False).
        label: names the metric in the warning about NaN predictions (default: the class name).

    Empty masks: 1.0 when prediction and GT are both empty, 0.0 when only one is.
    """

    def _score(self, pred: Tensor, gt: Tensor) -> Tensor:
        return mask_iou(pred, gt)


class BoundaryIoU(_PerImageMetric):
    """Mean over images of the per-image boundary IoU (the benchmarks' mBIoU).

    Args:
        dilation_ratio: boundary width as a fraction of each image's diagonal (0.02 officially).
        threshold, from_logits, label: as in :class:`MaskIoU`.

    Empty masks: 1.0 when prediction and GT are both empty, 0.0 when only one is.
    """

    def __init__(
        self,
        *,
        dilation_ratio: float = BOUNDARY_DILATION_RATIO,
        threshold: float | None = None,
        from_logits: bool = True,
        label: str | None = None,
        **kwargs,
    ):
        super().__init__(threshold=threshold, from_logits=from_logits, label=label, **kwargs)
        self.dilation_ratio = dilation_ratio

    def _score(self, pred: Tensor, gt: Tensor) -> Tensor:
        return boundary_iou(pred, gt, self.dilation_ratio)
