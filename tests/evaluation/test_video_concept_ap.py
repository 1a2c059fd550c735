"""Video phrase AP (SA-Co/VEval) equal to Meta's VideoPhraseApEvaluator (sam3 0.1.4) on the
synthetic GT and predictions of tests/evaluation/concept_video_data.py, masks and boxes."""

import numpy as np
import pytest

from samhq_train.evaluation.video.concept_ap import video_phrase_ap
from samhq_train.evaluation.video.concept_inputs import read_ground_truth, read_predictions
from tests.evaluation.concept_video_data import masklet_entry, synthetic_veval
from tests.evaluation.meta_concept_eval import meta_video_phrase_ap, write_inputs

TOLERANCE = 1e-12  # the numbers come out identical (0.0 difference)


def ours(gt_path, pred_path):
    gt = read_ground_truth(gt_path)
    return video_phrase_ap(gt, read_predictions(pred_path, gt))


def assert_same(result, meta):
    assert set(result) == set(meta)
    for key, value in meta.items():
        assert abs(result[key] - float(value)) <= TOLERANCE, (key, result[key], value)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_video_phrase_ap_equals_meta(tmp_path, seed):
    gt, preds = synthetic_veval(seed)
    paths = write_inputs(tmp_path, gt, preds)
    result = ours(*paths)
    assert_same(result, meta_video_phrase_ap(*paths))
    assert 0 < result["video_mask_phrase_ap_50"] < 1


def test_only_the_first_100_detections_of_a_pair_count(tmp_path):
    """120 copies of one detection scored above the rest: the first 100 count (ties in file
    order), the others are not false positives."""
    gt, preds = synthetic_veval(11, num_videos=2, num_phrases=2)
    first = next(p for p in preds if p["score"] >= 0.5)
    preds += [{**first, "score": 0.97}] * 120
    paths = write_inputs(tmp_path, gt, preds)
    assert_same(ours(*paths), meta_video_phrase_ap(*paths))


def test_a_detection_keeps_its_real_gt_over_a_crowd_one(tmp_path):
    """The detection overlaps a crowd GT (IoU 1) more than the real one (IoU 0.8): matched to
    the real one (a TP), as COCO's rule has it, and the crowd GT is neither TP nor FN."""
    real, shifted = np.zeros((10, 10), bool), np.zeros((10, 10), bool)
    real[:, :5], shifted[:, 1:5] = True, True
    video = {"id": 1, "file_names": ["v/0.jpg"], "height": 10, "width": 10}
    anns = [{"id": i + 1, "video_id": 1, "category_id": 1, "iscrowd": crowd, "areas": [1],
             **masklet_entry([mask], as_int=True)}
            for i, (mask, crowd) in enumerate([(real, 0), (shifted, 1)])]
    gt = {"videos": [video], "annotations": anns, "categories": [{"id": 1, "name": "x"}]}
    preds = [{"video_id": 1, "category_id": 1, "score": 0.9,
              **masklet_entry([shifted], as_int=False)}]
    paths = write_inputs(tmp_path, gt, preds)
    result = ours(*paths)
    assert_same(result, meta_video_phrase_ap(*paths))
    assert result["video_mask_phrase_ap_50"] == pytest.approx(1.0)
