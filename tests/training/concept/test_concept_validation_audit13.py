"""The validation's box AP over the validated images (audit 13): every validated image counts,
its misses too, whichever process validated it; the json's images no process validated do
not."""

import pytest

from samhq_train.evaluation.coco import evaluate_boxes
from samhq_train.training.concept import validation
from samhq_train.training.concept.validation import BoxDetections

from .test_concept_validation import outputs_on_the_targets, val_batch  # noqa: F401 (fixture)


def image_part(batch, image: int, shift: float):
    """The outputs and batch of one image's queries (its boxes moved right by `shift`)."""
    mine = batch.image_index == image
    outputs = {k: v[mine] for k, v in outputs_on_the_targets(batch, shift).items()}
    return outputs, batch._replace(image_index=batch.image_index[mine],
                                   category_ids=batch.category_ids[mine])


def test_every_validated_image_counts_its_misses_too(val_batch, monkeypatch):  # noqa: F811
    """Mutants: box AP over the first (or the last) validated image only: a perfect first image
    and a missed second one would score 1 (or 0)."""
    annotation_file, batch = val_batch
    hit, missed = BoxDetections(), BoxDetections()  # two processes' shares
    hit.add_batch(*image_part(batch, 0, shift=0.0))
    missed.add_batch(*image_part(batch, 1, shift=0.6))
    monkeypatch.setattr(validation, "gather_from_ranks",
                        lambda mine: [hit.per_image, missed.per_image])
    joined = hit.gathered()
    ids = [int(batch.image_ids[0]), int(batch.image_ids[1])]
    assert sorted(joined.per_image) == sorted(ids)
    ap = joined.box_ap(annotation_file)["box_AP"]
    assert ap == pytest.approx(evaluate_boxes(str(annotation_file), joined.coco_results(),
                                              image_ids=ids)["box_AP"])
    assert hit.box_ap(annotation_file)["box_AP"] == pytest.approx(1.0)
    assert missed.box_ap(annotation_file)["box_AP"] == pytest.approx(0.0)
    every_image = evaluate_boxes(str(annotation_file), joined.coco_results())["box_AP"]
    assert every_image < ap < 0.9
