"""Mutation audit (round 11): COCO results built from RLE predictions (evaluation/coco.py's
to_coco_results, now through coco_masks.compressed_rle) carry pycocotools' compressed RLE with a
str "counts", whether the prediction's RLE was uncompressed or had bytes counts."""

import json

import numpy as np
from pycocotools import mask as coco_mask
from pycocotools.coco import COCO

from samhq_train.coco_masks import uncompressed_rle
from samhq_train.evaluation.coco import to_coco_results


def test_rle_predictions_become_pycocotools_compressed_rle():
    coco_gt = COCO()
    coco_gt.dataset = {"images": [{"id": 1, "height": 9, "width": 14}],
                       "categories": [{"id": 3, "name": "x"}], "annotations": []}
    coco_gt.createIndex()
    mask = (np.random.default_rng(11).random((9, 14)) < 0.5).astype(np.uint8)
    reference = coco_mask.encode(np.asfortranarray(mask))
    expected = {"size": [9, 14], "counts": reference["counts"].decode("ascii")}
    predictions = [{"image_id": 1, "category_id": 3, "score": 0.5, "segmentation": rle}
                   for rle in (uncompressed_rle(mask), dict(reference), expected)]
    results = to_coco_results(predictions, coco_gt)
    assert [r["segmentation"] for r in results] == [expected] * 3
    assert json.loads(json.dumps(results)) == results
