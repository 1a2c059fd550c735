"""Mutation audit (round 9) of evaluation/saco_metrics.py: the GT checks the parity tests do not
reach (a file without categories, a blank phrase, no pair to score, no file_name, no file)."""

import json

import numpy as np
import pytest

from samhq_train.evaluation.coco import encode_mask
from samhq_train.evaluation.errors import EvaluationError
from samhq_train.evaluation.saco_metrics import read_saco_gt, score_pair

from .test_saco_metrics import H, W, annotation, box_mask, synthetic_saco


def spoiled(tmp_path, path, spoil) -> str:
    data = json.loads(path.read_text())
    spoil(data)
    out = tmp_path / "spoiled.json"
    out.write_text(json.dumps(data))
    return str(out)


@pytest.mark.parametrize("spoil, message", [
    (lambda d: d.update(categories=[]), "no categories; an SA-Co json has one"),
    (lambda d: d["images"][1].update(text_input="  "), "has no text_input"),
    (lambda d: d["images"][2].pop("file_name"), "has no file_name"),
    (lambda d: [e.update(is_instance_exhaustive=False) for e in d["images"]],
     "no exhaustively annotated pair to score"),
])
def test_gt_refused_in_one_line_naming_the_file(tmp_path, spoil, message):
    gt_paths, _ = synthetic_saco(tmp_path, 0, n_files=1, n_pairs=4, predict=False)
    bad = spoiled(tmp_path, gt_paths[0], spoil)
    with pytest.raises(EvaluationError, match=message) as info:
        read_saco_gt(bad)
    assert bad in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(EvaluationError, match="no SA-Co GT file given"):
        read_saco_gt([])


def test_every_gt_category_counts_and_others_are_left_out(tmp_path):
    """A json with two categories (SA-Co has one): an instance and a prediction of the second
    are matched; a prediction of a category the GT lacks is left out (CGF1Eval's rule)."""
    rng = np.random.RandomState(3)
    mask = box_mask(rng)
    image = {"id": 5, "file_name": "0.jpg", "height": H, "width": W, "text_input": "a cat",
             "is_instance_exhaustive": True}
    instance = {**annotation(rng, mask, 5, 1), "category_id": 2, "segmentation": encode_mask(mask)}
    path = tmp_path / "two.json"
    path.write_text(json.dumps({"images": [image], "annotations": [instance], "categories": [
        {"id": 1, "name": "object"}, {"id": 2, "name": "thing"}]}))
    gt = read_saco_gt(path)
    found = {"image_id": 5, "score": 0.9, "segmentation": encode_mask(mask)}
    score = score_pair(gt.files[0], 5, [{**found, "category_id": 2},
                                        {**found, "category_id": 3}], 0.5)
    assert (score.n_gt, score.n_dt) == (1, 1) and score.tp.tolist() == [1] * 10
