"""The concept loss's matchers alone (training/concept/matcher.py) against Meta's
BinaryHungarianMatcherV2 (focal, the recipe's costs) and BinaryOneToManyMatcher (alpha .3,
threshold .4, topk 4): the same (query, prediction, target) triples on random cases without
ties, including queries without instances, more instances than predictions and a batch without
any instance."""

import pytest
import torch

from samhq_train.training.concept.matcher import OneToManyMatcher, OneToOneMatcher

from .concept_loss_case import make_outputs, make_targets, meta_matchers, meta_targets

pytest.importorskip("sam3.train.matcher")


def _triples(batch, query, target):
    return sorted(zip(batch.tolist(), query.tolist(), target.tolist(), strict=True))


def _meta_triples(indices, num_boxes):
    batch, query, target = indices
    if target is None:  # every instance matched, in the order of the packed targets
        target = torch.arange(int(num_boxes.sum()))
    return _triples(batch, query, target)


CASES = {
    "a query without instances": ([3, 0, 2], 10),
    "more instances than predictions": ([6, 1], 4),
    "no instance at all": ([0, 0], 6),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_matchers_equal_metas(case):
    counts, num_queries = CASES[case]
    targets = make_targets(counts, seed=5)
    outputs = make_outputs(targets, num_queries=num_queries, num_aux=0, seed=6)
    meta_one_to_one, meta_one_to_many = meta_matchers()
    meta = meta_targets(targets)
    args = (targets.num_boxes, targets.boxes_padded)
    copies = {k[:-4]: v for k, v in outputs.items() if k.endswith("_o2m")}

    for predictions in (outputs, copies):
        ours = OneToOneMatcher()(predictions["pred_logits"], predictions["pred_boxes"], *args)
        expected = _meta_triples(meta_one_to_one(predictions, meta), targets.num_boxes)
        assert _triples(*ours) == expected
        assert len(expected) == sum(min(n, num_queries) for n in counts)
        # per query, in the order of the instances matched
        assert torch.equal(ours.target, torch.sort(ours.target).values)

    ours = OneToManyMatcher()(copies["pred_logits"], copies["pred_boxes"], *args)
    expected = _meta_triples(meta_one_to_many(copies, meta), targets.num_boxes)
    assert _triples(*ours) == expected
    assert (len(expected) > 0) == (sum(counts) > 0)
