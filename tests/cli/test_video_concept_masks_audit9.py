"""Mutation audit (round 9) of evaluation/video/concept_masks.py: the --masks checks the
end-to-end tests do not reach (a png_value out of 1..255, a score that is no number, GT file
names without a video folder), one ConceptInputError line each."""

import json

import numpy as np
import pytest

pytest.importorskip("sam3")

from samhq_train.evaluation.video.concept_inputs import (  # noqa: E402
    ConceptInputError,
    read_ground_truth,
)
from samhq_train.evaluation.video.concept_masks import predictions_from_masks  # noqa: E402
from tests.cli.test_video_concept_eval import veval_gt, write_pair  # noqa: E402
from tests.inference.video.conftest import VIDEO_HW  # noqa: E402


@pytest.mark.parametrize("objects, message", [
    ([{"png_value": 0, "score": 0.5}], r"objects\[0\]: png_value must be 1..255"),
    ([{"png_value": 1, "score": 0.5}, {"png_value": 256, "score": 0.5}],
     r"objects\[1\]: png_value must be 1..255"),
    ([{"png_value": True, "score": 0.5}], r"objects\[0\]: png_value must be 1..255"),
    ([{"png_value": 1, "score": "high"}], r"objects\[0\]: score must be a number"),
])
def test_bad_concept_json_objects_refused(tmp_path, objects, message):
    gt = veval_gt()
    gt["video_np_pairs"] = gt["video_np_pairs"][:1]
    gt_path = tmp_path / "gt.json"
    gt_path.write_text(json.dumps(gt))
    write_pair(tmp_path / "masks" / "clip" / "1", [np.zeros(VIDEO_HW)] * 2, objects)
    with pytest.raises(ConceptInputError, match=message):
        predictions_from_masks(tmp_path / "masks", read_ground_truth(gt_path))


def test_frames_without_a_video_folder_refused(tmp_path):
    gt = veval_gt()
    gt["videos"][0]["file_names"] = ["00000.jpg", "00001.jpg"]
    gt_path = tmp_path / "gt.json"
    gt_path.write_text(json.dumps(gt))
    (tmp_path / "masks").mkdir()
    with pytest.raises(ConceptInputError, match="file_names must share one folder"):
        predictions_from_masks(tmp_path / "masks", read_ground_truth(gt_path))
