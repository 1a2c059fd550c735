"""Box AP of the concept detector on a validation set: each query's boxes and scores as Meta's
PostProcessImage turns the eval-mode outputs into COCO detections (score sigmoid(logit) x
sigmoid(presence), every query kept, the image's `max_per_image` highest scores over all its
prompts), scored by COCOeval(iouType="bbox") against the set's json (evaluation/coco.py).

The validation transform stretches an image to the model's square, so a normalised box scales
back by the file's width and height."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from samhq_train.data.concept_batch import ConceptBatch
from samhq_train.distributed import gather_from_ranks
from samhq_train.evaluation.coco import evaluate_boxes

MAX_PER_IMAGE = 100  # Meta's PostProcessImage max_dets_per_img, COCO's own limit


def query_scores(outputs: dict) -> torch.Tensor:
    """B x Q detection scores: sigmoid(logit) x sigmoid(presence), as ConceptPredictor's."""
    return outputs["pred_logits"][..., 0].float().sigmoid() * (
        outputs["presence_logit_dec"].float().sigmoid())


class BoxDetections:
    """The running top `max_per_image` detections of each image over a validation epoch."""

    def __init__(self, max_per_image: int = MAX_PER_IMAGE) -> None:
        self.max_per_image = max_per_image
        self.per_image: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def add_batch(self, outputs: dict, batch: ConceptBatch) -> None:
        """The eval-mode outputs of a batch's queries."""
        scores = query_scores(outputs).cpu().numpy()
        boxes = outputs["pred_boxes_xyxy"].float().cpu().numpy()  # unclipped, as Meta's
        sizes = batch.original_sizes.cpu().numpy()
        for q, image in enumerate(batch.image_index.tolist()):
            h, w = sizes[image]
            xyxy = boxes[q] * np.array([w, h, w, h], np.float32)
            xywh = np.concatenate((xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]), axis=1)
            category = np.full(len(xywh), int(batch.category_ids[q]))
            self.add(int(batch.image_ids[image]), category, scores[q], xywh)

    def add(self, image_id: int, category_ids, scores, boxes_xywh) -> None:
        old = self.per_image.get(image_id)
        if old is not None:
            category_ids, scores, boxes_xywh = (
                np.concatenate((a, b)) for a, b in zip(old, (category_ids, scores, boxes_xywh)))
        top = np.argsort(-scores, kind="stable")[: self.max_per_image]
        self.per_image[image_id] = (category_ids[top], scores[top], boxes_xywh[top])

    def gathered(self) -> BoxDetections:
        """Every process's detections (each validated its share of the images)."""
        parts = gather_from_ranks(self.per_image)
        if len(parts) == 1:
            return self
        joined = BoxDetections(self.max_per_image)
        for part in parts:
            for image_id, found in part.items():
                joined.add(image_id, *found)
        return joined

    def coco_results(self) -> list[dict]:
        return [{"image_id": image_id, "category_id": int(c), "bbox": box.tolist(),
                 "score": float(s)}
                for image_id, (cats, scores, boxes) in sorted(self.per_image.items())
                for c, s, box in zip(cats, scores, boxes)]

    def box_ap(self, annotation_file, category_ids: Sequence | None = None) -> dict[str, float]:
        """COCO box AP (box_AP, box_AP50, ...) against the set's json, over the images that were
        validated (as Meta's CocoEvaluator scores the images it was given): with
        data.val_num_images the json's other images are not counted as misses."""
        return evaluate_boxes(str(annotation_file), self.coco_results(),
                              category_ids=category_ids, image_ids=list(self.per_image))
