"""Mutation audit (round 9) of evaluation/video/concept_inputs.py: each check of the GT and the
predictions the parity tests do not reach, one ConceptInputError line naming the entry."""

import pytest

from samhq_train.evaluation.video.concept_inputs import (
    ConceptInputError,
    asked_pairs,
    read_ground_truth,
    read_predictions,
)
from tests.evaluation.concept_video_data import synthetic_veval
from tests.evaluation.meta_concept_eval import write_inputs


def spoil_gt_pair_video(gt, preds):
    gt["video_np_pairs"][0]["video_id"] = 77


def spoil_gt_category(gt, preds):
    gt["annotations"][0]["category_id"] = 99


def spoil_gt_pair_category(gt, preds):
    gt["video_np_pairs"][1]["category_id"] = 98


def spoil_pred_rle_size(gt, preds):
    preds[0]["segmentations"][0] = {**preds[0]["segmentations"][0], "size": [3, 3]}


def spoil_pred_rle_string(gt, preds):
    preds[0]["segmentations"][0] = {**preds[0]["segmentations"][0], "counts": "04"}


def spoil_gt_rle_runs(gt, preds):
    rle = next(r for r in gt["annotations"][0]["segmentations"] if r)
    height, width = rle["size"]
    gt["annotations"][0]["segmentations"][0] = {"size": rle["size"],
                                                "counts": [height * width - 1]}


def spoil_pred_bool_id(gt, preds):
    preds[0]["video_id"] = True


def spoil_pred_box(gt, preds):
    preds[0]["bboxes"][1] = [1, 2, 3]


def spoil_pred_boxes_length(gt, preds):
    preds[0]["bboxes"] = preds[0]["bboxes"][:-1]


@pytest.mark.parametrize("spoil, message", [
    (spoil_gt_pair_video, r"video_np_pairs\[0\]: video_id 77 is not in 'videos'"),
    (spoil_gt_category, r"annotations\[0\]: category_id 99 is not in 'categories'"),
    (spoil_gt_pair_category, r"video_np_pairs\[1\]: category_id 98 is not in 'categories'"),
    (spoil_pred_rle_size, r"json\[0\]: RLE size \[3, 3\] is not the video's"),
    (spoil_pred_rle_string, r"json\[0\]: the RLE 'counts' string must be COCO's compressed runs"),
    (spoil_gt_rle_runs, r"annotations\[0\]: the RLE 'counts' must be non-negative integers "
                        r"summing to height x width"),
    (spoil_pred_bool_id, r"json\[0\]: 'video_id' missing or not int"),
    (spoil_pred_box, r"json\[0\]: a box must be \[x, y, w, h\] or null, got \[1, 2, 3\]"),
    (spoil_pred_boxes_length, r"json\[0\]: 'bboxes' must be a list of 5 boxes"),
])
def test_bad_entries_refused_in_one_line(tmp_path, spoil, message):
    gt, preds = synthetic_veval(0)
    preds[0]["segmentations"][0] = preds[0]["segmentations"][0] or preds[0]["segmentations"][1]
    spoil(gt, preds)
    gt_path, pred_path = write_inputs(tmp_path, gt, preds)
    with pytest.raises(ConceptInputError, match=message) as info:
        read_predictions(pred_path, read_ground_truth(gt_path))
    assert "\n" not in str(info.value)


def test_asked_pairs_once_each_in_file_order(tmp_path):
    gt, preds = synthetic_veval(0)
    gt["video_np_pairs"].append(dict(gt["video_np_pairs"][0]))
    gt_path, _ = write_inputs(tmp_path, gt, preds)
    pairs = asked_pairs(read_ground_truth(gt_path))
    assert len(pairs) == len(set(pairs)) == 16
    assert pairs[0] == (gt["video_np_pairs"][0]["video_id"], gt["video_np_pairs"][0]["category_id"])
    del gt["video_np_pairs"]
    gt_path, _ = write_inputs(tmp_path, gt, preds)
    positive = asked_pairs(read_ground_truth(gt_path))
    assert len(positive) == len(set(positive)) == len({(a["video_id"], a["category_id"])
                                                       for a in gt["annotations"]})
