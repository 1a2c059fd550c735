"""Which predicted queries answer which ground-truth instances, for SAM 3's detection loss (Meta's
sam3.train.matcher with the fine-tuning recipe's settings).

Both matchers read the score logits B x Q x 1 and boxes B x Q x 4 (cx, cy, w, h) of one decoder
output, and the targets' per-query counts and padded boxes; neither reads the presence logit.
They return Matches: three aligned 1-D index tensors, each pair (batch[k], query[k]) a
prediction matched to target row target[k] of the packed boxes.

- OneToOneMatcher (BinaryHungarianMatcherV2, focal=True, stable=False): per query, the
  assignment of least total cost (scipy's linear_sum_assignment) between the Q predictions and
  the query's instances; cost = cost_bbox * L1 + cost_class * focal + cost_giou * (-GIoU), the
  focal term a prediction's positive focal loss minus its negative one (the same for every
  instance). A query with no instance matches nothing; with more instances than predictions only
  Q instances are matched. Pairs come per query in the order of the instances they match.
- OneToManyMatcher (BinaryOneToManyMatcher, DAC-DETR's): a prediction goes to every instance for
  which alpha * score + (1 - alpha) * IoU is above `threshold` and above that instance's
  (1 - topk / Q) quantile over the predictions: up to about topk predictions per instance.
"""

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment

from samhq_train.model.sam3.concept.boxes import box_cxcywh_to_xyxy

from .box_overlap import pairwise_box_iou, pairwise_generalized_box_iou


class Matches(NamedTuple):
    """batch, query, target: K each (long); target indexes the packed target rows."""

    batch: torch.Tensor
    query: torch.Tensor
    target: torch.Tensor


def _check_inputs(pred_logits, pred_boxes, num_boxes, boxes_padded) -> None:
    batch, queries = pred_logits.shape[:2]
    if pred_logits.shape != (batch, queries, 1) or pred_boxes.shape != (batch, queries, 4):
        raise ValueError(f"need score logits B x Q x 1 and boxes B x Q x 4, got "
                         f"{tuple(pred_logits.shape)} and {tuple(pred_boxes.shape)}")
    if num_boxes.shape != (batch,) or boxes_padded.shape[0] != batch:
        raise ValueError(f"targets of {tuple(num_boxes.shape)} / {tuple(boxes_padded.shape)} "
                         f"for a batch of {batch} queries")


def _target_offsets(num_boxes: torch.Tensor) -> torch.Tensor:
    """The first packed target row of each query."""
    return torch.cumsum(num_boxes, 0) - num_boxes


@dataclass(frozen=True)
class OneToOneMatcher:
    """The recipe's Hungarian matcher: costs 2 (class), 5 (L1), 2 (GIoU), focal alpha .25,
    gamma 2."""

    cost_class: float = 2.0
    cost_bbox: float = 5.0
    cost_giou: float = 2.0
    focal_alpha: float = 0.25
    focal_gamma: float = 2.0

    def cost_matrix(self, pred_logits, pred_boxes, boxes_padded) -> torch.Tensor:
        """B x Q x M: the cost of each prediction for each padded target row."""
        cost_bbox = torch.cdist(pred_boxes, boxes_padded, p=1)
        cost_giou = -pairwise_generalized_box_iou(
            box_cxcywh_to_xyxy(pred_boxes), box_cxcywh_to_xyxy(boxes_padded)
        )
        logits = pred_logits.squeeze(-1)
        prob = logits.sigmoid()
        alpha, gamma = self.focal_alpha, self.focal_gamma
        cost_class = (
            -alpha * (1 - prob) ** gamma * F.logsigmoid(logits)
            + (1 - alpha) * prob**gamma * F.logsigmoid(-logits)
        )
        return (
            self.cost_bbox * cost_bbox
            + self.cost_class * cost_class.unsqueeze(-1).expand_as(cost_bbox)
            + self.cost_giou * cost_giou
        )

    @torch.no_grad()
    def __call__(self, pred_logits, pred_boxes, num_boxes, boxes_padded) -> Matches:
        """pred_logits B x Q x 1, pred_boxes B x Q x 4 (cx, cy, w, h), num_boxes B (long),
        boxes_padded B x M x 4 -> Matches."""
        _check_inputs(pred_logits, pred_boxes, num_boxes, boxes_padded)
        device = pred_logits.device
        counts = num_boxes.tolist()
        offsets = _target_offsets(num_boxes.cpu()).tolist()
        keep = [b for b, n in enumerate(counts) if n > 0]
        if not keep:
            empty = torch.zeros(0, dtype=torch.long, device=device)
            return Matches(empty, empty, empty)
        keep_index = torch.tensor(keep, device=device)
        costs = self.cost_matrix(
            pred_logits[keep_index], pred_boxes[keep_index], boxes_padded[keep_index]
        ).float().cpu().numpy()
        batch, query, target = [], [], []
        for cost, b in zip(costs, keep, strict=True):
            rows, cols = linear_sum_assignment(cost[:, : counts[b]])
            order = np.argsort(cols, kind="stable")
            batch.append(np.full(len(rows), b, dtype=np.int64))
            query.append(rows[order])
            target.append(cols[order] + offsets[b])
        return Matches(*(torch.from_numpy(np.concatenate(x)).long().to(device)
                         for x in (batch, query, target)))


@dataclass(frozen=True)
class OneToManyMatcher:
    """The recipe's one-to-many matcher for the DAC query copies: alpha .3, threshold .4,
    topk 4."""

    alpha: float = 0.3
    threshold: float = 0.4
    topk: int = 4

    @torch.no_grad()
    def __call__(self, pred_logits, pred_boxes, num_boxes, boxes_padded) -> Matches:
        """Inputs as OneToOneMatcher's -> Matches, ordered by (batch, query, target)."""
        _check_inputs(pred_logits, pred_boxes, num_boxes, boxes_padded)
        num_queries, max_targets = pred_logits.shape[1], boxes_padded.shape[1]
        if max_targets == 0:
            empty = torch.zeros(0, dtype=torch.long, device=pred_logits.device)
            return Matches(empty, empty, empty)
        iou, _ = pairwise_box_iou(box_cxcywh_to_xyxy(pred_boxes), box_cxcywh_to_xyxy(boxes_padded))
        quality = self.alpha * pred_logits.sigmoid() + (1 - self.alpha) * iou  # B x Q x M
        bar = torch.quantile(quality, 1 - self.topk / num_queries, dim=1, keepdim=True)
        num_boxes = num_boxes.to(quality.device)
        real = torch.arange(max_targets, device=quality.device)[None] < num_boxes[:, None]
        chosen = (quality > bar) & (quality > self.threshold) & real[:, None, :]
        batch, query, target = torch.nonzero(chosen, as_tuple=True)
        return Matches(batch, query, target + _target_offsets(num_boxes)[batch])
