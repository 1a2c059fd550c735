"""The validation's box AP: detections placed on the validation json's own boxes (through the
validation transform, the model's normalised outputs and back to pixels) score AP 1; the same
boxes given to the wrong category score 0; a worse box of lower score after each true one leaves
AP at 1 (COCO ranks by score), and every image keeps only its best max_per_image."""

import numpy as np
import pytest
import torch

from samhq_train.data.concept_batch import collate_concepts
from samhq_train.data.concept_dataset import ConceptDataset
from samhq_train.data.demo_concepts import ANNOTATIONS, ensure_concept_demo
from samhq_train.evaluation.coco import evaluate_boxes
from samhq_train.model.sam3.concept.boxes import box_cxcywh_to_xyxy
from samhq_train.training.concept.validation import BoxDetections

QUERIES = 6


@pytest.fixture(scope="module")
def val_batch(tmp_path_factory):
    root = ensure_concept_demo(tmp_path_factory.mktemp("cval"), num_train=1, num_val=3, size=96)
    data = ConceptDataset(root / "val" / ANNOTATIONS, root / "val", training=False,
                          resolution=224)
    return root / "val" / ANNOTATIONS, collate_concepts([data[i] for i in range(len(data))])


def outputs_on_the_targets(batch, shift: float = 0.0) -> dict:
    """Each query's GT boxes (as the model would predict them) with logit 5, the rest of its
    QUERIES slots empty boxes with logit -5; shift moves every box right by that fraction."""
    targets = batch.targets
    n = len(targets.num_boxes)
    boxes = torch.zeros(n, QUERIES, 4)
    logits = torch.full((n, QUERIES, 1), -5.0)
    for q, count in enumerate(targets.num_boxes.tolist()):
        xyxy = box_cxcywh_to_xyxy(targets.boxes_padded[q, :count])
        boxes[q, :count] = xyxy + torch.tensor([shift, 0, shift, 0])
        logits[q, :count] = 5.0
    return {"pred_logits": logits, "pred_boxes_xyxy": boxes,
            "presence_logit_dec": torch.full((n, 1), 5.0)}


def test_detections_on_the_gt_boxes_score_ap_1(val_batch):
    annotation_file, batch = val_batch
    assert int(batch.targets.num_boxes.sum()) > 0
    found = BoxDetections()
    found.add_batch(outputs_on_the_targets(batch), batch)
    assert found.box_ap(annotation_file)["box_AP"] == pytest.approx(1.0)
    wrong = BoxDetections()
    swapped = batch._replace(category_ids=batch.category_ids % 4 + 1)  # another category each
    wrong.add_batch(outputs_on_the_targets(batch), swapped)
    assert wrong.box_ap(annotation_file)["box_AP"] == 0.0


def test_lower_scored_misses_do_not_lower_ap_and_the_top_k_is_kept(val_batch):
    annotation_file, batch = val_batch
    found = BoxDetections(max_per_image=100)
    found.add_batch(outputs_on_the_targets(batch), batch)
    misses = outputs_on_the_targets(batch, shift=0.5)
    misses["pred_logits"] = misses["pred_logits"] - 1.0
    found.add_batch(misses, batch)
    assert found.box_ap(annotation_file)["box_AP"] == pytest.approx(1.0)
    few = BoxDetections(max_per_image=2)
    few.add_batch(outputs_on_the_targets(batch), batch)
    for _, scores, _ in few.per_image.values():
        assert len(scores) == 2 and np.all(scores[:-1] >= scores[1:])


def test_only_the_validated_images_are_scored(val_batch):
    """Detections on the GT of the first image alone (as with data.val_num_images=1) score AP 1:
    the json's other images are not validated, so their boxes are not misses (Meta's evaluator
    scores the images it was given); all three images' GT against them would score less."""
    annotation_file, batch = val_batch
    first = batch.image_index == 0
    assert 0 < int(batch.targets.num_boxes[first].sum()) < int(batch.targets.num_boxes.sum())
    outputs = {k: v[first] for k, v in outputs_on_the_targets(batch).items()}
    one = batch._replace(image_index=batch.image_index[first],
                         category_ids=batch.category_ids[first])
    found = BoxDetections()
    found.add_batch(outputs, one)
    assert list(found.per_image) == [int(batch.image_ids[0])]
    assert found.box_ap(annotation_file)["box_AP"] == pytest.approx(1.0)
    every_image = evaluate_boxes(str(annotation_file), found.coco_results())
    assert every_image["box_AP"] < 0.9
