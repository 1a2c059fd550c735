"""Exemplar-box prompts in the COCO concept evaluation (``coco.concept.exemplars``): each image x
category that has GT instances is asked with one of its own GT boxes as a positive exemplar,
the box alone (``visual``: the text is "visual", as Meta's Sam3Processor asks a box-only prompt)
or with the category's name (``text_and_visual``). The protocol of Meta's visual evaluations
(sam3's odinw_visual_only / odinw_text_and_visual: TextQueryToVisual(probability=1.0), the box
exact) and of concept training's validation exemplars (data.val_exemplars): the same instance,
drawn per (seed, image id, category id) by data/concept_val_exemplars.val_exemplar_row, so
``coco.concept.exemplar_seed`` = a run's data.seed asks the boxes its validation asked. The box
is the json's [x, y, w, h] as x0 y0 x1 y1 pixels clamped as Meta's datapoints clamp it (x, y, w,
h each into the image, then x1 = x + w at most the width), in float64: a json box inside its
image is asked exactly.

Only the queries with instances are asked, so plain COCOeval of the detections is Meta's
positive split (COCOevalCustom(dt_only_positive=True) drops the detections of a category an image
has no instance of: here there are none to drop)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from pycocotools.coco import COCO

from samhq_train.constants import EXEMPLAR_MODES
from samhq_train.data.concept_val_exemplars import val_exemplar_row
from samhq_train.evaluation.errors import EvaluationError

__all__ = ["ExemplarPrompts", "draw_exemplars"]


@dataclass(frozen=True)
class ExemplarPrompts:
    """mode: visual or text_and_visual; seed: the draws'; boxes: {(image id, category id): the
    exemplar, 4 float64 x0 y0 x1 y1 in the image's pixels} of every image x prompted category
    with GT instances (json order of the images, then of the categories)."""

    mode: str
    seed: int
    boxes: Mapping[tuple, np.ndarray]

    @property
    def with_text(self) -> bool:
        return self.mode == "text_and_visual"

    def queries(self, image_id, categories: Mapping) -> tuple[list, list[np.ndarray]]:
        """([(category id, text: its name or None for the box alone)], [its box]) of the image's
        exemplar queries, in the order of categories."""
        asked = [c for c in categories if (image_id, c) in self.boxes]
        texts = [categories[c] if self.with_text else None for c in asked]
        return list(zip(asked, texts)), [self.boxes[image_id, c] for c in asked]

    def describe(self, n_categories: int) -> str:
        """The table caption's protocol."""
        prompt = "its name and one of its GT boxes" if self.with_text else (
            "one of its GT boxes alone (text \"visual\")")
        return (
            f"{n_categories} categories, exemplars={self.mode}: each image x category with GT "
            f"instances asked with {prompt}, exact, drawn with seed {self.seed}; scored on "
            "Meta's positive split (only those queries)"
        )


def draw_exemplars(
    coco_gt: COCO, categories: Mapping, mode: str, seed: int = 0
) -> ExemplarPrompts | None:
    """Each (image, prompted category with instances)'s exemplar box (None for mode "none"),
    drawn before the model is read: EvaluationError naming the annotation for a drawn box that
    is empty inside its image (the predictor takes no empty box) or for a mode not in
    EXEMPLAR_MODES."""
    if mode not in EXEMPLAR_MODES:
        raise EvaluationError(
            f"coco.concept.exemplars={mode}: expected one of {', '.join(EXEMPLAR_MODES)}")
    if mode == "none":
        return None
    boxes = {}
    for image_id, image in coco_gt.imgs.items():
        by_category: dict = {}
        for ann in coco_gt.imgToAnns.get(image_id, []):  # json order
            if ann["category_id"] in categories:
                by_category.setdefault(ann["category_id"], []).append(ann)
        for category_id in (c for c in categories if c in by_category):
            anns = by_category[category_id]
            ann = anns[val_exemplar_row(seed, image_id, category_id, len(anns))]
            box = _pixel_box(ann["bbox"], image["height"], image["width"])
            if not (box[0] < box[2] and box[1] < box[3]):
                raise EvaluationError(
                    f"coco.annotation_file: annotation id {ann.get('id')} (image {image_id}, "
                    f"category {category_id}), drawn as an exemplar, has bbox {ann['bbox']}: "
                    f"empty inside its {image['width']}x{image['height']} image (x0 y0 x1 y1 "
                    f"{box.tolist()}); fix its bbox or draw another with "
                    "coco.concept.exemplar_seed"
                )
            boxes[image_id, category_id] = box
    return ExemplarPrompts(mode, int(seed), boxes)


def _pixel_box(bbox, height: int, width: int) -> np.ndarray:
    """A json [x, y, w, h] as x0 y0 x1 y1 pixels, clamped as Meta's COCO_FROM_JSON clamps it."""
    x, y, w, h = np.clip(np.asarray(bbox, np.float64), 0, [width, height, width, height])
    return np.array([x, y, min(x + w, width), min(y + h, height)])
