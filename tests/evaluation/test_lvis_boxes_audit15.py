"""LVIS AP of box prompts, the scoring half (audit 15; no model: coco_runner's decoding stood in
for by its results): score_lvis_masks hands the detection limit and the boundary width to the
federated AP, evaluate_coco_model resolves the LVIS limit (300) once and scores an LVIS json with
it into lvis_* files and a two-column table, and predict_coco resolves the limit itself for a
direct caller."""

import json

import numpy as np
import pytest
import torch

from samhq_train.evaluation import coco_runner
from samhq_train.evaluation.coco import load_coco
from samhq_train.evaluation.lvis_boxes import score_lvis_masks
from samhq_train.evaluation.lvis_eval import LVIS_AP_NAMES, federated_ap
from tests.evaluation.test_lvis_eval_audit15 import gt_json, results


def figures(kind: str, **kwargs) -> dict:
    iou_type = "segm" if kind == "mask" else kind
    return {f"{kind}_{n}": v for n, v in
            federated_ap(load_coco(gt_json()), results(), iou_type, **kwargs).items()}


def both(**kwargs) -> dict:
    return {**figures("mask", **kwargs), **figures("boundary", **kwargs)}


def same(a: dict, b: dict) -> bool:
    """Equal figures per model, NaN equal to NaN (no GT of that size or frequency)."""
    return a.keys() == b.keys() and all(
        a[m].keys() == b[m].keys() and np.allclose(list(a[m].values()), list(b[m].values()),
                                                   rtol=0, atol=0, equal_nan=True) for m in a)


def test_the_limit_and_the_width_reach_the_federated_ap():
    """Mutants: boundary AP scored as mask AP; max_detections or dilation_ratio not handed on
    (LVIS's 300, the default 0.02)."""
    scored = score_lvis_masks(load_coco(gt_json()), {"hq": results()}, max_detections=1,
                              dilation_ratio=0.05)
    assert same(scored, {"hq": both(max_detections=1, dilation_ratio=0.05)})
    assert not same({"hq": both(max_detections=1, dilation_ratio=0.05)},
                    {"hq": both(dilation_ratio=0.05)})
    assert not same({"hq": both(max_detections=1, dilation_ratio=0.05)},
                    {"hq": both(max_detections=1)})
    assert scored["hq"]["boundary_AP"] != scored["hq"]["mask_AP"]


@pytest.fixture
def decoded(monkeypatch):
    """coco_runner.predict_coco stood in for: the keyword arguments it was called with."""
    calls = []

    def predict_coco(model, **kwargs):
        calls.append(kwargs)
        return {"sam": results()[1:], "hq": results()} if kwargs.get("sam_baseline", True) \
            else {"hq": results()}

    monkeypatch.setattr(coco_runner, "predict_coco", predict_coco)
    return calls


def test_an_lvis_json_is_scored_with_the_resolved_limit_into_lvis_files(tmp_path, decoded):
    """Mutants: the limit not resolved before scoring (None), not handed to the decoding, or
    scored as 300 whatever was asked; the width not handed on; COCOeval for an LVIS json; coco_*
    file names; the table's separator, header or rows with one leading column."""
    out = coco_runner.evaluate_coco_model(None, annotation_file=gt_json(), image_dir="unused",
                                          detections="unused", dilation_ratio=0.05,
                                          out_dir=tmp_path)
    assert decoded[-1]["max_detections"] == 300
    assert same(out["metrics"], {"sam": both(max_detections=1, dilation_ratio=0.05),
                                 "hq": both(dilation_ratio=0.05)})  # "sam": the top result
    written = json.loads((tmp_path / "lvis_metrics.json").read_text())  # NaN as null
    assert same({m: {k: np.nan if v is None else v for k, v in f.items()}
                 for m, f in written.items()}, out["metrics"])
    assert json.loads((tmp_path / "lvis_results_hq.json").read_text()) == results()
    assert not list(tmp_path.glob("coco*"))
    lines = (tmp_path / "lvis.md").read_text().splitlines()
    assert lines[4] == "| model | IoU | " + " | ".join(LVIS_AP_NAMES) + " |"
    assert lines[5] == "|---|---|" + "---:|" * len(LVIS_AP_NAMES)
    hq = out["metrics"]["hq"]
    assert [ln.split(" | ")[:3] for ln in lines[6:10]] == [
        ["| SAM", "mask", f"{100 * out['metrics']['sam']['mask_AP']:.1f}"],
        ["| SAM", "boundary", f"{100 * out['metrics']['sam']['boundary_AP']:.1f}"],
        ["| SAM-HQ", "mask", f"{100 * hq['mask_AP']:.1f}"],
        ["| SAM-HQ", "boundary", f"{100 * hq['boundary_AP']:.1f}"]]

    limited = coco_runner.evaluate_coco_model(None, annotation_file=gt_json(), image_dir="unused",
                                              detections="unused", max_detections=1,
                                              sam_baseline=False)
    assert decoded[-1]["max_detections"] == 1
    assert same(limited["metrics"], {"hq": both(max_detections=1)})  # no SAM row asked for


class NoModel(torch.nn.Module):
    image_size = 64


class Stop(Exception):
    pass


def test_predict_coco_resolves_the_limit_of_its_json(monkeypatch):
    """Mutant: predict_coco called directly with max_detections=None keeping COCO's 100 for an
    LVIS json (its images dataset is handed the limit)."""
    limits = []

    def prompt_images(coco_gt, image_dir, per_image, image_size, transform, max_detections):
        limits.append(max_detections)
        raise Stop

    monkeypatch.setattr(coco_runner, "CocoPromptImages", prompt_images)
    detection = [{"image_id": 1, "category_id": 1, "bbox": [8, 8, 40, 40], "score": 0.9}]
    coco = {**gt_json(), "images": [{"id": 1, "height": 64, "width": 64, "file_name": "1.jpg"}],
            "categories": [{"id": 1, "name": "thing"}]}
    for gt, limit in ((gt_json(), 300), (coco, 100)):
        with pytest.raises(Stop):
            coco_runner.predict_coco(NoModel(), annotation_file=gt, image_dir="unused",
                                     detections=detection)
        assert limits[-1] == limit
