"""Mutation audit (round 9) of evaluation/video/concept_ap.py: a crowd GT stays matchable after
its first match (COCO's rule), so every detection on it is ignored, not a false positive."""

import numpy as np
import pytest

from tests.evaluation.concept_video_data import masklet_entry
from tests.evaluation.meta_concept_eval import meta_video_phrase_ap, write_inputs
from tests.evaluation.test_video_concept_ap import assert_same, ours


def test_every_detection_on_a_crowd_gt_is_ignored(tmp_path):
    """Two detections on a crowd region ranked above the one on the real GT: both ignored, so
    the real one is found at precision 1 (AP 1, as Meta's), not after a false positive (0.5)."""
    real, crowd = np.zeros((10, 10), bool), np.zeros((10, 10), bool)
    real[:, :4], crowd[:, 5:] = True, True
    video = {"id": 1, "file_names": ["v/0.jpg"], "height": 10, "width": 10}
    anns = [{"id": i + 1, "video_id": 1, "category_id": 1, "iscrowd": is_crowd, "areas": [1],
             **masklet_entry([mask], as_int=True)}
            for i, (mask, is_crowd) in enumerate([(real, 0), (crowd, 1)])]
    gt = {"videos": [video], "annotations": anns, "categories": [{"id": 1, "name": "x"}]}
    preds = [{"video_id": 1, "category_id": 1, "score": score,
              **masklet_entry([mask], as_int=False)}
             for score, mask in [(0.9, crowd), (0.8, crowd), (0.7, real)]]
    paths = write_inputs(tmp_path, gt, preds)
    result = ours(*paths)
    assert_same(result, meta_video_phrase_ap(*paths))
    assert result["video_mask_phrase_ap_50_95"] == pytest.approx(1.0)
