"""What each image of the COCO concept evaluation (coco.prompts=concept) is asked: its categories
by name (coco.concept.per_image) or its exemplar boxes (coco.concept.exemplars). One home for the
run (coco_concept.predict_concepts) and the check stage (checks.py), which works them out once
(concept_queries), looks for the files of the images asked, and of no other, before the model is
read, and hands them to the run."""

from __future__ import annotations

from collections.abc import Mapping

from pycocotools.coco import COCO

from samhq_train.evaluation.coco_concept_exemplars import ExemplarPrompts

__all__ = ["concept_queries", "image_queries", "prompted_categories"]


def prompted_categories(coco_gt: COCO, image_id, categories: Mapping, per_image: str) -> list:
    """[(category id, name)] that prompt this image, in category-id order of the json
    ("annotated": its GT's, and an LVIS image's verified-absent neg_category_ids)."""
    if per_image == "all":
        return list(categories.items())
    present = {a["category_id"] for a in coco_gt.imgToAnns.get(image_id, [])}
    present |= set(coco_gt.imgs[image_id].get("neg_category_ids", []))
    return [(i, n) for i, n in categories.items() if i in present]


def image_queries(
    coco_gt: COCO, image_id, categories: Mapping, per_image: str | ExemplarPrompts
) -> tuple[list, list | None]:
    """([(category id, text)], the exemplar boxes or None) the image is asked: per_image "all" or
    "annotated" (prompted_categories) or the drawn exemplars (ExemplarPrompts.queries)."""
    if isinstance(per_image, ExemplarPrompts):
        return per_image.queries(image_id, categories)
    return prompted_categories(coco_gt, image_id, categories, per_image), None


def concept_queries(coco_gt: COCO, categories: Mapping, per_image: str | ExemplarPrompts) -> dict:
    """{image id: its image_queries} of the images asked anything (the only ones read), in the
    run's order: worked out once, by the check stage (which looks for those images' files), and
    handed to the run (coco_concept.predict_concepts). With per_image "all" every image shares
    one query list (an LVIS json: 20k images x 1203 categories)."""
    image_ids = sorted(coco_gt.imgs, key=lambda i: (isinstance(i, str), i))
    if per_image == "all":
        everything = (list(categories.items()), None)
        return dict.fromkeys(image_ids, everything) if categories else {}
    queries = {i: image_queries(coco_gt, i, categories, per_image) for i in image_ids}
    return {i: asked for i, asked in queries.items() if asked[0]}
