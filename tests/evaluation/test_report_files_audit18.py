"""Mutation audit 18: the click protocol's reports (write_click_report: clicks.md,
click_scores.json) are in evaluation/checks.REPORT_FILES, so a second evaluation with clicks into
the same output_dir is refused as the box benchmark's and the COCO tasks' are."""

import pytest

from samhq_train.evaluation import report
from samhq_train.evaluation.checks import check_no_earlier_reports
from samhq_train.output_check import OutputError


def test_the_click_reports_are_ones_the_earlier_reports_check_knows(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "click_tables", lambda result, labels: "")  # the names matter
    paths = report.write_click_report({"results": {}, "images": {}}, tmp_path)
    assert {p.name for p in paths.values()} == {"clicks.md", "click_scores.json"}
    with pytest.raises(OutputError, match="holds an earlier evaluation's clicks.md, "
                                          "click_scores.json: give another output_dir"):
        check_no_earlier_reports(tmp_path)
