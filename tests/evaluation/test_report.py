"""Evaluation reporting by hand-made numbers: the SAM-vs-HQ table (per set, the mean over sets
only for several sets, the prompt note), the click table (NoC in clicks, the rest in percent, the
mean over sets), scores.json's mean over sets, and the worst-images list (lowest first, ties: the
earlier image)."""

import json
import random

import numpy as np
import pytest
import torch

from samhq_train.evaluation.report import (
    click_tables,
    markdown_tables,
    results_tables,
    write_report,
)
from samhq_train.evaluation.worst import WorstImages

SETS = {
    "A": {"mIoU": 0.5, "mBIoU": 0.25, "count": 3},
    "B": {"mIoU": 0.9, "mBIoU": 0.75, "count": 2},
}


def test_one_set_has_no_mean_table_and_rows_follow_the_labels_order():
    table = markdown_tables(
        {"results": {"hq": {"A": SETS["A"]}, "sam": {"A": SETS["A"]}}, "prompts": {"A": "point"}}
    )
    assert "Mean over" not in table
    assert table.splitlines() == [
        "### A", "", "3 images, prompt: point", "",
        "| model | mIoU | mBIoU | count |", "|---|---:|---:|---:|",
        "| SAM | 50.00 | 25.00 | 3 |",
        "| SAM-HQ | 50.00 | 25.00 | 3 |",
    ]


def test_the_mean_table_is_the_mean_of_the_set_means():
    table = results_tables({"SAM-HQ": SETS})
    mean = table[table.index("### Mean over 2 sets"):]
    assert "| SAM-HQ | 70.00 | 50.00 | 5 |" in mean


def test_click_table_noc_in_clicks_and_the_rest_in_percent():
    sets = {
        "A": {"NoC@90": 2.5, "mIoU@1": 0.5, "count": 4},
        "B": {"NoC@90": 4.0, "mIoU@1": 0.9, "count": 2},
    }
    table = click_tables({"results": {"hq": sets}, "protocol": {"max": 5}})
    assert "| model | NoC@90 | mIoU@1 |" in table
    assert "4 images, up to 5 clicks; mIoU / mBIoU in percent after n clicks" in table
    assert "| SAM-HQ | 2.50 | 50.00 |" in table and "| SAM-HQ | 4.00 | 90.00 |" in table
    mean = table[table.index("### Mean over 2 sets (clicks)"):]
    assert "| SAM-HQ | 3.25 | 70.00 |" in mean


def test_scores_json_holds_the_mean_over_sets(tmp_path):
    result = {"results": {"hq": SETS}, "images": [], "worst": {}}
    paths = write_report(result, tmp_path, settings={"prompt": "box"})
    scores = json.loads(paths["scores"].read_text())
    assert scores["results"]["hq"]["mean_over_sets"] == pytest.approx(
        {"mIoU": 0.7, "mBIoU": 0.5, "count": 5}
    )
    assert scores["results"]["hq"]["sets"] == SETS and scores["settings"] == {"prompt": "box"}


@pytest.mark.parametrize("n", [1, 3, 5])
def test_worst_images_are_the_lowest_scores_lowest_first_ties_kept_by_order(n):
    rng = random.Random(n)
    scores = [rng.choice([0.1, 0.3, 0.5, 0.7, 0.9]) for _ in range(40)]  # many ties
    keep = WorstImages(n)
    for index, score in enumerate(scores):
        if keep.wants(score, index):
            keep.add(score, index, {"index": index})
    expected = sorted(range(len(scores)), key=lambda i: (scores[i], i))[:n]
    assert [item["index"] for item in keep.sorted()] == expected
    nothing = WorstImages(0)
    assert not nothing.wants(0.0, 0) and nothing.sorted() == []


def test_an_overlay_narrower_than_its_minimum_is_enlarged_to_at_least_that_width():
    from samhq_train.evaluation.report import overlay_picture

    gt = torch.zeros(30, 50)
    gt[5:20, 10:30] = 1
    item = {
        "image": torch.zeros(3, 30, 50, dtype=torch.uint8),
        "gt": gt,
        "masks": {"sam": gt > 0, "hq": gt > 0},
        "scores": {"sam": {"iou": 0.5, "biou": 0.25}, "hq": {"iou": 1.0, "biou": 1.0}},
    }
    picture = overlay_picture(item, min_width=120)
    panel = (picture.shape[1] - 4) // 2
    assert panel == 150 and picture.dtype == np.uint8  # 50 x 3 (the smallest factor >= 120)
