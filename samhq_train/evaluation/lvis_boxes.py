"""LVIS AP of box-prompted masks (coco_runner's detections with an LVIS json): each model's
masks scored with LVIS's federated mask AP and boundary AP (lvis_eval.federated_ap), as the
SAM-HQ paper reports LVIS v1 val prompted with ViTDet-H's boxes, and the LVIS table that this
and the concept path (lvis_concept) print."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pycocotools.coco import COCO

from samhq_train.evaluation.lvis_eval import LVIS_AP_NAMES, federated_ap
from samhq_train.evaluation.report import MODEL_LABELS

__all__ = ["lvis_box_prompt_markdown", "lvis_table", "score_lvis_masks"]

IOU_KINDS = ("mask", "boundary")  # the metrics' prefixes: mask AP, boundary AP


def lvis_table(rows: Sequence[tuple[Sequence[str], Mapping[str, float]]], caption: str,
               columns: Sequence[str] = ("model",)) -> str:
    """Markdown table of LVIS AP (percent, n/a for NaN) under a caption line: each row its
    leading cells (one per entry of columns) and its figures by LVIS_AP_NAMES."""
    lines = ["### LVIS", "", caption, "",
             "| " + " | ".join([*columns, *LVIS_AP_NAMES]) + " |",
             "|" + "---|" * len(columns) + "---:|" * len(LVIS_AP_NAMES)]
    for cells, figures in rows:
        values = ["n/a" if v != v else f"{100 * v:.1f}" for v in
                  (figures[n] for n in LVIS_AP_NAMES)]
        lines.append("| " + " | ".join([*cells, *values]) + " |")
    lines.append("")
    return "\n".join(lines)


def score_lvis_masks(coco_gt: COCO, predictions: Mapping[str, list[dict]], *,
                     max_detections: int, dilation_ratio: float) -> dict[str, dict[str, float]]:
    """``{model: {"mask_AP", ..., "mask_APf", "boundary_AP", ..., "boundary_APf"}}``: LVIS's
    federated mask AP and boundary AP of each model's results over every category of the GT,
    max_detections counted per image."""
    metrics = {}
    for model, results in predictions.items():
        metrics[model] = {}
        for kind in IOU_KINDS:
            figures = federated_ap(coco_gt, results, "segm" if kind == "mask" else kind,
                                   max_detections=max_detections, dilation_ratio=dilation_ratio)
            metrics[model].update({f"{kind}_{name}": v for name, v in figures.items()})
    return metrics


def lvis_box_prompt_markdown(metrics: Mapping[str, Mapping[str, float]], caption: str,
                             labels: Mapping[str, str] = MODEL_LABELS) -> str:
    """score_lvis_masks' figures as an LVIS table: a mask AP and a boundary AP row per model."""
    rows = [((label, kind), {n: metrics[model][f"{kind}_{n}"] for n in LVIS_AP_NAMES})
            for model, label in labels.items() if model in metrics for kind in IOU_KINDS]
    return lvis_table(rows, caption, columns=("model", "IoU"))
