"""Video phrase HOTA (pHOTA, SA-Co/VEval) equal to Meta's VideoPhraseHotaEvaluator (sam3 0.1.4,
TrackEval's HOTA) on the synthetic GT and predictions of tests/evaluation/concept_video_data.py:
the nine dataset numbers and every per video x phrase number, masks and boxes."""

import numpy as np
import pytest

from samhq_train.evaluation.video.concept_hota import video_phrase_hota
from samhq_train.evaluation.video.concept_inputs import read_ground_truth, read_predictions
from tests.evaluation.concept_video_data import masklet_entry, synthetic_veval
from tests.evaluation.meta_concept_eval import meta_video_phrase_hota, write_inputs

TOLERANCE = 1e-12  # the numbers come out identical (0.0 difference)


def ours(gt_path, pred_path):
    gt = read_ground_truth(gt_path)
    return video_phrase_hota(gt, read_predictions(pred_path, gt))


def assert_same(result, meta):
    (dataset, pairs), (meta_dataset, meta_pairs) = result, meta
    assert dataset == pytest.approx(meta_dataset, abs=TOLERANCE, rel=0)
    assert set(pairs) == set(meta_pairs)
    for pair, numbers in meta_pairs.items():
        assert pairs[pair] == pytest.approx(numbers, abs=TOLERANCE, rel=0), pair


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_video_phrase_hota_equals_meta(tmp_path, seed):
    gt, preds = synthetic_veval(seed)
    paths = write_inputs(tmp_path, gt, preds)
    result = ours(*paths)
    assert_same(result, meta_video_phrase_hota(*paths))
    assert len(result[0]) == 18 and 0 < result[0]["video_mask_all_phrase_HOTA"] < 1


def test_an_identity_switch_lowers_association_as_meta(tmp_path):
    """One predicted track follows GT A on two frames, then GT B on three; a second prediction
    has a mask only on the first frame (empty elsewhere: no detection there)."""
    a, b = np.zeros((5, 12, 16), bool), np.zeros((5, 12, 16), bool)
    for t in range(5):
        a[t, 1:5, t:t + 6] = True
        b[t, 7:11, 8 - t:14 - t] = True
    switch = [a[t] if t < 2 else b[t] for t in range(5)]
    brief = [a[0]] + [np.zeros((12, 16), bool)] * 4
    video = {"id": 1, "file_names": [f"v/{t}.jpg" for t in range(5)], "height": 12, "width": 16}
    gt = {"videos": [video], "categories": [{"id": 1, "name": "x"}],
          "annotations": [{"id": i + 1, "video_id": 1, "category_id": 1, "iscrowd": 0,
                           **masklet_entry(list(m), as_int=True)} for i, m in enumerate((a, b))]}
    preds = []
    for masks, score in ((switch, 0.9), (brief, 0.8), (brief, 0.5)):  # 0.5: not above 0.5
        entry = masklet_entry(masks, as_int=False)
        entry["bboxes"] = [bb or [0.0, 0.0, 0.0, 0.0] for bb in entry["bboxes"]]
        preds.append({"video_id": 1, "category_id": 1, "score": score, **entry})
    paths = write_inputs(tmp_path, gt, preds)
    result = ours(*paths)
    assert_same(result, meta_video_phrase_hota(*paths))
    assert 0.3 < result[0]["video_mask_all_phrase_AssA"] < 0.9
