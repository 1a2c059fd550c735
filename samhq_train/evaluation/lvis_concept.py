"""LVIS AP of SAM 3's text prompts: coco_concept's detections (the boxes and the three mask
sources) scored with LVIS's federated AP (lvis_eval.federated_ap), APr / APc / APf beside AP,
in a table and files of their own (``lvis.md``, ``lvis_metrics.json``,
``lvis_results_<row>.json``)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from pycocotools.coco import COCO

from samhq_train.evaluation.coco_runner import write_coco_outputs
from samhq_train.evaluation.lvis_boxes import lvis_table
from samhq_train.evaluation.lvis_eval import LVIS_AP_NAMES, federated_ap

__all__ = ["lvis_markdown", "score_lvis_concepts"]

BOXES = "boxes"  # the detections' boxes' row (coco_concept.BOXES)


def lvis_markdown(metrics: Mapping[str, Mapping[str, float]], caption: str,
                  labels: Mapping[str, str]) -> str:
    """Markdown table of LVIS AP (percent), one row per entry of labels that metrics has."""
    rows = []
    for row, label in labels.items():
        if row in metrics:
            kind = "box" if row == BOXES else "mask"
            rows.append(((label,), {n: metrics[row][f"{kind}_{n}"] for n in LVIS_AP_NAMES}))
    return lvis_table(rows, caption)


def score_lvis_concepts(
    coco_gt: COCO,
    predictions: Mapping[str, list[dict]],
    *,
    categories: Mapping,
    max_detections: int,
    caption: str,
    labels: Mapping[str, str],
    out_dir: str | Path | None = None,
) -> dict:
    """Federated box AP of the "boxes" predictions and mask AP of every mask source, over the
    prompted categories, with max_detections counted per image. Returns ``{"metrics": {"boxes":
    {"box_AP", ..., "box_APf"}, "detector"|"sam"|"hq": {"mask_AP", ...}}, "table", "paths",
    "predictions"}``."""
    metrics = {}
    for row, found in predictions.items():
        kind = "box" if row == BOXES else "mask"
        figures = federated_ap(coco_gt, found, "bbox" if row == BOXES else "segm",
                               category_ids=list(categories), max_detections=max_detections)
        metrics[row] = {f"{kind}_{name}": value for name, value in figures.items()}
    table = lvis_markdown(metrics, caption, labels)
    paths = write_coco_outputs(out_dir, predictions, metrics, table, name="lvis")
    return {"metrics": metrics, "table": table, "paths": paths, "predictions": predictions}
