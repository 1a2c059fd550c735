"""Mutation audit 19: the COCO concept evaluation asks an LVIS image its verified-absent
categories (neg_category_ids) beside its GT's with coco.concept.per_image=annotated, so an image
whose only query is one of them is asked, and read (coco_concept_queries.concept_queries)."""

from pycocotools.coco import COCO

from samhq_train.evaluation.coco_concept_queries import concept_queries, prompted_categories

CATEGORIES = {1: "cat", 2: "dog", 3: "bird"}


def lvis_gt() -> COCO:
    gt = COCO()
    gt.dataset = {
        "images": [{"id": 1, "neg_category_ids": [3]}, {"id": 2, "neg_category_ids": [2]},
                   {"id": 3}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1],
                         "area": 1, "iscrowd": 0}],
        "categories": [{"id": i, "name": n} for i, n in CATEGORIES.items()]}
    gt.createIndex()
    return gt


def test_an_images_verified_absent_categories_are_asked_too():
    gt = lvis_gt()
    assert prompted_categories(gt, 1, CATEGORIES, "annotated") == [(1, "cat"), (3, "bird")]
    assert list(concept_queries(gt, CATEGORIES, "annotated")) == [1, 2]
    assert list(concept_queries(gt, CATEGORIES, "all")) == [1, 2, 3]
    assert concept_queries(gt, {}, "all") == {}
