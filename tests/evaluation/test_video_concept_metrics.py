"""Video cgF1, IL_MCC and positive micro F1 (SA-Co/VEval) equal to Meta's VideoCGF1Evaluator
(sam3 0.1.4) on synthetic GT and predictions (tests/evaluation/concept_video_data.py): every
dataset-level number and every per video x phrase number, masks and boxes."""

import math

import numpy as np
import pytest

from samhq_train.evaluation.video.concept_inputs import (
    ConceptInputError,
    Masklet,
    read_ground_truth,
    read_predictions,
)
from samhq_train.evaluation.video.concept_metrics import box_track_ious, masklet_iou, video_cgf1
from tests.evaluation.concept_video_data import masklet_entry, synthetic_veval
from tests.evaluation.meta_concept_eval import meta_video_cgf1, write_inputs

TOLERANCE = 1e-12  # the numbers come out identical (0.0 difference)


def ours(gt_path, pred_path):
    gt = read_ground_truth(gt_path)
    return video_cgf1(gt, read_predictions(pred_path, gt))


def assert_same(ours_result, meta_result):
    (dataset, pairs), (meta_dataset, meta_pairs) = ours_result, meta_result
    assert set(dataset) == set(meta_dataset)
    for key, value in meta_dataset.items():
        if math.isnan(value):
            assert math.isnan(dataset[key]), key
        else:
            assert abs(dataset[key] - float(value)) <= TOLERANCE, (key, dataset[key], value)
    assert set(pairs) == set(meta_pairs)
    for pair, numbers in meta_pairs.items():
        assert pairs[pair] == pytest.approx(numbers, abs=TOLERANCE, rel=0), pair


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4, 5])
def test_video_cgf1_equals_meta(tmp_path, seed):
    gt, preds = synthetic_veval(seed)
    paths = write_inputs(tmp_path, gt, preds)
    result = ours(*paths)
    assert_same(result, meta_video_cgf1(*paths))
    dataset, pairs = result
    assert len(pairs) == 16 and len(dataset) == 18
    assert 0 < dataset["video_mask_demo_cgf1_micro_50"] < 1


def test_low_scores_count_as_no_prediction_and_equal_meta(tmp_path):
    """Meta's evaluator cannot read an empty prediction list; predictions all under the 0.5
    threshold are the same thing for cgF1: every positive pair an FN, cgF1 0."""
    gt, preds = synthetic_veval(7)
    for pred in preds:
        pred["score"] = 0.49
    paths = write_inputs(tmp_path, gt, preds)
    result = ours(*paths)
    assert_same(result, meta_video_cgf1(*paths))
    (tmp_path / "empty.json").write_text("[]")
    assert_same(ours(paths[0], tmp_path / "empty.json"), result)
    assert result[0]["video_mask_demo_cgf1_micro_50_95"] == 0


def test_perfect_predictions_equal_meta(tmp_path):
    gt, _ = synthetic_veval(8)
    gt_path, _ = write_inputs(tmp_path, gt, [])
    preds = [{"video_id": m.video_id, "category_id": m.category_id, "score": 0.9,
              "segmentations": m.segmentations, "bboxes": m.bboxes}  # RLEs compressed
             for m in read_ground_truth(gt_path).masklets if not m.crowd]
    paths = write_inputs(tmp_path, gt, preds)
    result = ours(*paths)
    assert_same(result, meta_video_cgf1(*paths))
    assert result[0]["video_mask_demo_cgf1_micro_50_95"] == pytest.approx(1, abs=1e-3)


def test_without_video_np_pairs_only_per_pair_numbers(tmp_path):
    gt, preds = synthetic_veval(9)
    del gt["video_np_pairs"]
    paths = write_inputs(tmp_path, gt, preds)
    result = ours(*paths)
    assert_same(result, meta_video_cgf1(*paths))
    assert result[0] == {}


def test_bad_inputs_refused_in_one_line(tmp_path):
    gt, preds = synthetic_veval(0)
    preds[0]["segmentations"] = preds[0]["segmentations"][:-1]
    gt_path, pred_path = write_inputs(tmp_path, gt, preds)
    g = read_ground_truth(gt_path)
    with pytest.raises(ConceptInputError, match=r"json\[0\]: 'segmentations' must be a list of 5"):
        read_predictions(pred_path, g)
    preds[0]["video_id"] = 99
    write_inputs(tmp_path, gt, preds)
    with pytest.raises(ConceptInputError, match="video_id 99 is not a video of the ground truth"):
        read_predictions(pred_path, g)
    del gt["videos"]
    write_inputs(tmp_path, gt, preds)
    with pytest.raises(ConceptInputError, match="'videos' must be a list"):
        read_ground_truth(gt_path)


def test_box_iou_in_float32_as_meta(tmp_path):
    """Masks and boxes of IoU 13/20 = 0.65: the mask IoU (float64) reaches the threshold 0.65,
    the box IoU, float32 as Meta's torch code makes it (0.64999998), does not."""
    gt_mask, pred_mask = np.zeros((4, 30), bool), np.zeros((4, 30), bool)
    gt_mask[1, :20], pred_mask[1, :13] = True, True
    video = {"id": 1, "file_names": ["v/0.jpg"], "height": 4, "width": 30}
    gt = {"videos": [video], "categories": [{"id": 1, "name": "a line"}],
          "annotations": [{"id": 1, "video_id": 1, "category_id": 1,
                           **masklet_entry([gt_mask], as_int=True)}],
          "video_np_pairs": [{"video_id": 1, "category_id": 1}]}
    preds = [{"video_id": 1, "category_id": 1, "score": 1.0,
              **masklet_entry([pred_mask], as_int=False)}]
    paths = write_inputs(tmp_path, gt, preds)
    result = ours(*paths)
    assert_same(result, meta_video_cgf1(*paths))
    assert result[1][1, 1]["bbox_TP_50_95"] == 0.3 and result[1][1, 1]["mask_TP_50_95"] == 0.4


def test_masklets_empty_on_every_frame_have_iou_one():
    assert masklet_iou([None, None], [None, None]) == 1.0
    empty = Masklet(1, 1, [None, None], [None, [0.0, 0.0, 0.0, 0.0]])
    box = Masklet(1, 1, [None, None], [None, [1.0, 2.0, 3.0, 4.0]])
    assert box_track_ious([empty, box], [empty, box]).tolist() == [[1.0, 0.0], [0.0, 1.0]]
