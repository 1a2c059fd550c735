"""Mutation audit (round 10) of evaluation/saco_metrics.py's box (bbox) figures: an infinite
bbox refused, a GT instance without a bbox scored by its mask's box, an unknown iou_type
refused."""

import json

import pytest
from pycocotools import mask as mask_utils

from samhq_train.evaluation.errors import EvaluationError
from samhq_train.evaluation.saco_metrics import cgf1_metrics, read_saco_gt

from .test_saco_metrics import synthetic_saco
from .test_saco_metrics_audit9 import spoiled


def test_an_infinite_bbox_is_refused(tmp_path):
    """[inf, 2, 3, 4]: its w and h are fine, its x is no number to score with."""
    gt_paths, _ = synthetic_saco(tmp_path, 0, n_files=1, predict=False)
    bad = spoiled(tmp_path, gt_paths[0],
                  lambda d: d["annotations"][0].update(bbox=[float("inf"), 2, 3, 4]))
    says = r'annotations\[0\] \(id 1\): "bbox" must be \[x, y, w, h\] .*, got \[inf, 2, 3, 4\]'
    with pytest.raises(EvaluationError, match=says):
        read_saco_gt(bad)


def test_an_instance_without_a_bbox_is_scored_by_its_masks_box(tmp_path):
    """The synthetic instances' bboxes are their masks' boxes: left out, the figures stay."""
    gt_paths, pred_path = synthetic_saco(tmp_path, 3, n_files=1)
    predictions = json.loads(pred_path.read_text())
    gt = read_saco_gt(gt_paths)
    for entry in gt.files[0].dataset["annotations"]:
        assert entry["bbox"] == mask_utils.toBbox(gt.files[0].annToRLE(entry)).tolist()
    without = spoiled(tmp_path, gt_paths[0],
                      lambda d: [a.pop("bbox") for a in d["annotations"]])
    ours = cgf1_metrics(read_saco_gt(without), predictions, iou_type="bbox")
    assert ours == cgf1_metrics(gt, predictions, iou_type="bbox") and ours["cgF1"] > 0


def test_an_unknown_iou_type_is_refused(tmp_path):
    gt_paths, pred_path = synthetic_saco(tmp_path, 0, n_files=1)
    with pytest.raises(ValueError, match=r"iou_type='box': use one of \('segm', 'bbox'\)"):
        cgf1_metrics(read_saco_gt(gt_paths), json.loads(pred_path.read_text()), iou_type="box")
