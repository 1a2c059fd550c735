"""The SAM 2.1 vs HQ-SAM 2 table and record of samhq-video-eval --checkpoint, on given scores:
numbers in the right cells, a sequence without scored objects as '-', one decoder alone."""

import pytest

from samhq_train.evaluation.video import ObjectScore, SequenceScore, overall_score
from samhq_train.evaluation.video.comparison import comparison_record, comparison_table


def scores(j_a: float, f_a: float, j_b: float, f_b: float):
    sequences = [
        SequenceScore("a", {1: ObjectScore(j_a, f_a, 3), 2: ObjectScore(50.0, 70.0, 3)}, 3),
        SequenceScore("bb", {3: ObjectScore(j_b, f_b, 2)}, 2),
        SequenceScore("empty", {}, 2),
    ]
    return sequences, overall_score(sequences)


TWO = {"SAM 2.1": scores(10.0, 20.0, 40.0, 60.0), "HQ-SAM 2": scores(30.0, 20.0, 40.0, 50.0)}


def test_table_cells_and_difference():
    results = TWO
    lines = comparison_table(results).splitlines()
    assert lines[0].split() == ["SAM", "2.1", "HQ-SAM", "2", "difference"]
    rows = {line.split()[0]: line.split()[-9:] for line in lines[2:6]}
    # a: SAM J (10+50)/2=30, F (20+70)/2=45; HQ J 40, F 45
    assert rows["a"] == ["37.5", "30.0", "45.0", "42.5", "40.0", "45.0", "+5.0", "+10.0", "+0.0"]
    assert rows["empty"] == ["-"] * 9
    # overall: the 3 objects pooled; SAM J (10+50+40)/3, F (20+70+60)/3
    assert rows["overall"][:3] == ["41.7", "33.3", "50.0"]
    assert lines[5].startswith("overall (3 objects)")
    assert "difference: HQ-SAM 2 minus SAM 2.1" in lines[-1]


def test_one_decoder_alone():
    table = comparison_table({"SAM 2.1": scores(10.0, 20.0, 40.0, 60.0)})
    assert "difference" not in table and table.splitlines()[1].split()[1:] == ["J&F", "J", "F"]
    record = comparison_record(
        {"SAM 2.1": scores(10.0, 20.0, 40.0, 60.0)}, skip_first_and_last=True, gt="g",
        preds={"SAM 2.1": "p"},
    )
    assert list(record) == ["SAM 2.1"] and record["SAM 2.1"]["pred"] == "p"


def test_record_difference():
    results = TWO
    record = comparison_record(
        results, skip_first_and_last=False, gt="g", preds={"SAM 2.1": "s", "HQ-SAM 2": "h"}
    )
    assert record["difference"]["J"] == pytest.approx(20.0 / 3)
    assert record["difference"]["F"] == pytest.approx(-10.0 / 3)
    assert record["HQ-SAM 2"]["sequences"]["empty"]["J&F"] is None
