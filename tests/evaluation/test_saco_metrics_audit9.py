"""Mutation audit (round 9) of evaluation/saco_metrics.py: the GT checks the parity tests do not
reach (a file without categories, a blank phrase, no pair to score, no file_name, no file)."""

import json

import pytest

from samhq_train.evaluation.errors import EvaluationError
from samhq_train.evaluation.saco_metrics import read_saco_gt

from .test_saco_metrics import synthetic_saco


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
