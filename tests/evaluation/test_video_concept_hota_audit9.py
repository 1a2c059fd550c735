"""Mutation audit (round 9) of evaluation/video/concept_hota.py: a predicted frame whose box is
all zero holds no detection (masks and boxes alike), as in Meta's pHOTA."""

from tests.evaluation.concept_video_data import synthetic_veval
from tests.evaluation.meta_concept_eval import meta_video_phrase_hota, write_inputs
from tests.evaluation.test_video_concept_hota import assert_same, ours


def test_a_zero_box_is_no_detection_as_meta(tmp_path):
    gt, preds = synthetic_veval(2)
    spoiled = 0
    for pred in preds:
        if pred["score"] > 0.5:
            frame = next(t for t, box in enumerate(pred["bboxes"]) if box and any(box))
            pred["bboxes"][frame] = [0, 0, 0, 0]  # its mask stays
            spoiled += 1
    paths = write_inputs(tmp_path, gt, preds)
    result = ours(*paths)
    assert_same(result, meta_video_phrase_hota(*paths))
    assert spoiled >= 5
