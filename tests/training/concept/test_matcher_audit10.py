"""Mutation audit (round 10) of the concept loss's matchers (training/concept/matcher.py): the
one-to-many matcher's strict bar (a quantile that lands on a prediction's quality) and its
padding rows at settings where they could pass the threshold, against Meta's
BinaryOneToManyMatcher; the shape refusals of both matchers and of the matched-pair overlaps."""

import pytest
import torch

from samhq_train.training.concept.box_overlap import (
    matched_box_iou,
    matched_generalized_box_iou,
)
from samhq_train.training.concept.matcher import OneToManyMatcher, OneToOneMatcher

from .concept_loss_case import make_outputs, make_targets, meta_targets
from .test_loss_matcher import _meta_triples, _triples

pytest.importorskip("sam3.train.matcher")


def test_one_to_many_bar_is_strict_as_metas():
    """Q = topk = 4: the bar is each instance's lowest quality, which Meta's `>` leaves out;
    every prediction sits on the one instance, so all four pass the threshold."""
    from sam3.train.matcher import BinaryOneToManyMatcher

    targets = make_targets([1], seed=2)
    box = targets.boxes_padded[0, 0]
    jitter = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.004, 0, 0, 0], [0, 0.008, 0, 0],
                           [0, 0, 0.012, 0]])
    predictions = {"pred_logits": torch.tensor([[[2.0], [1.5], [1.0], [2.5]]]),
                   "pred_boxes": (box + jitter)[None]}
    ours = OneToManyMatcher()(predictions["pred_logits"], predictions["pred_boxes"],
                              targets.num_boxes, targets.boxes_padded)
    meta = BinaryOneToManyMatcher(alpha=0.3, threshold=0.4, topk=4)(
        predictions, meta_targets(targets))
    assert _triples(*ours) == _meta_triples(meta, targets.num_boxes)
    assert len(ours.query) == 3 and 2 not in ours.query.tolist()  # the lowest quality is out


def test_one_to_many_skips_padding_rows_as_metas():
    """alpha .9: a confident prediction scores above the threshold on a padding row (IoU 0)
    too; neither matcher matches the padding (query 1 has no instance, query 0 fewer than 3)."""
    from sam3.train.matcher import BinaryOneToManyMatcher

    targets = make_targets([3, 0, 1], seed=5)
    outputs = make_outputs(targets, num_queries=8, num_aux=0, seed=6)
    outputs = {k: v.detach() for k, v in outputs.items() if k != "aux_outputs"}
    outputs["pred_logits"] = outputs["pred_logits"].abs() + 2  # every score above .88
    ours = OneToManyMatcher(alpha=0.9)(outputs["pred_logits"], outputs["pred_boxes"],
                                       targets.num_boxes, targets.boxes_padded)
    meta = BinaryOneToManyMatcher(alpha=0.9, threshold=0.4, topk=4)(
        outputs, meta_targets(targets))
    assert _triples(*ours) == _meta_triples(meta, targets.num_boxes)
    assert 1 not in ours.batch.tolist() and len(ours.batch) > 0
    assert ours.target.max() < 4


@pytest.mark.parametrize("matcher", [OneToOneMatcher(), OneToManyMatcher()])
def test_matchers_refuse_inconsistent_shapes(matcher):
    targets = make_targets([2, 1])
    logits, boxes = torch.zeros(2, 5, 1), torch.rand(2, 5, 4)
    args = (targets.num_boxes, targets.boxes_padded)
    with pytest.raises(ValueError, match=r"score logits B x Q x 1 and boxes B x Q x 4"):
        matcher(logits[..., 0], boxes, *args)
    with pytest.raises(ValueError, match=r"score logits B x Q x 1 and boxes B x Q x 4"):
        matcher(logits, boxes[:, :4], *args)
    with pytest.raises(ValueError, match=r"for a batch of 2 queries"):
        matcher(logits, boxes, targets.num_boxes[:1], targets.boxes_padded)
    with pytest.raises(ValueError, match=r"for a batch of 2 queries"):
        matcher(logits, boxes, targets.num_boxes, targets.boxes_padded[:1])


@pytest.mark.parametrize("overlap", [matched_box_iou, matched_generalized_box_iou])
def test_matched_overlaps_refuse_rows_that_do_not_pair(overlap):
    """3 boxes against 1 would broadcast silently: the pairs' overlaps need N x 4 and N x 4."""
    boxes = torch.tensor([[0.1, 0.1, 0.5, 0.5], [0.2, 0.2, 0.6, 0.7], [0.0, 0.3, 0.4, 0.9]])
    with pytest.raises(ValueError, match=r"matched boxes differ in shape: \(3, 4\) and \(1, 4\)"):
        overlap(boxes, boxes[:1])
    assert overlap(boxes, boxes).shape == (3,)
