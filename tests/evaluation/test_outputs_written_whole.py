"""The evaluation's output files are each written whole or not at all: a signal while one is
written leaves the earlier file (results.md, scores.json, an overlay PNG, clicks.md,
click_scores.json, the COCO results / metrics / table) as it was and no temporary beside it
(tests/signal_mid_write.py; a write made in place again fails these)."""

import json
import math

import cv2
import pytest
import torch

from samhq_train.evaluation.coco_runner import write_coco_outputs
from samhq_train.evaluation.report import write_click_report, write_report
from tests.signal_mid_write import check_signal_keeps_earlier_file

SETS = {"A": {"mIoU": 0.5, "mBIoU": 0.25, "count": 1}}


def _worst_item() -> dict:
    gt = torch.zeros(30, 50)
    gt[5:20, 10:30] = 1
    return {
        "name": "a",
        "image": torch.zeros(3, 30, 50, dtype=torch.uint8),
        "gt": gt,
        "masks": {"sam": gt > 0, "hq": gt > 0},
        "scores": {"sam": {"iou": 0.5, "biou": 0.25}, "hq": {"iou": 1.0, "biou": 1.0}},
    }


@pytest.mark.parametrize("name", ["results.md", "scores.json", "overlays/A/00_a.png"])
def test_a_signal_while_a_report_file_is_written_keeps_the_earlier_one(tmp_path, monkeypatch,
                                                                       name):
    result = {"results": {"sam": SETS, "hq": SETS}, "images": [], "worst": {"A": [_worst_item()]}}
    check_signal_keeps_earlier_file(
        monkeypatch, tmp_path / name, lambda: write_report(result, tmp_path)
    )
    paths = write_report(result, tmp_path)  # the next run replaces it
    assert json.loads(paths["scores"].read_text())["results"]["hq"]["sets"] == SETS
    overlay = cv2.imread(str(paths["overlays"][0]))
    assert overlay is not None and overlay.shape[1] > 2 * 256


@pytest.mark.parametrize("name", ["clicks.md", "click_scores.json"])
def test_a_signal_while_a_click_report_file_is_written_keeps_the_earlier_one(tmp_path, monkeypatch,
                                                                             name):
    clicks = {"A": {"NoC@90": 2.0, "mIoU@1": 0.5, "count": 1}}
    result = {"results": {"hq": clicks}, "images": [], "protocol": {"max": 5}}
    check_signal_keeps_earlier_file(
        monkeypatch, tmp_path / name, lambda: write_click_report(result, tmp_path)
    )


@pytest.mark.parametrize("name", ["coco_results_hq.json", "coco_metrics.json", "coco.md"])
def test_a_signal_while_a_coco_output_is_written_keeps_the_earlier_one(tmp_path, monkeypatch,
                                                                       name):
    predictions = {"hq": [{"image_id": 1, "category_id": 1, "segmentation": {}, "score": 0.5}]}
    metrics = {"hq": {"AP": 0.25, "AP_boundary": math.nan}}

    def write():
        return write_coco_outputs(tmp_path, predictions, metrics, "| table |\n")

    check_signal_keeps_earlier_file(monkeypatch, tmp_path / name, write)
    paths = write()
    metrics_file = json.loads(paths["coco_metrics"].read_text())
    assert metrics_file == {"hq": {"AP": 0.25, "AP_boundary": None}}
    assert json.loads(paths["coco_results_hq"].read_text()) == predictions["hq"]
