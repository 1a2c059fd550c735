"""SA-Co's evaluation of text prompts on HQ-SAM 3 (``coco.prompts=concept
coco.concept.metric=cgf1``): each (image, noun phrase) pair of an SA-Co json (Gold, Silver, or
your own in that format) prompts SAM 3's concept detector once with its ``text_input``, and the
same detections are scored with three masks (the detector's own, SAM 3's interactive decoder,
the HQ decoder), as coco_concept.py scores them for COCO AP; here with cgF1, IL_MCC and pmF1
(saco_metrics.py).

The protocol is Meta's SA-Co/Gold evaluation (facebookresearch/sam3, gold_image_evals): every
prediction of a pair whose score sigmoid(logit) x presence reaches 0.5 counts (CGF1Eval's
threshold; Meta's dump keeps > 0.3 and no top-k, and the evaluator drops those under 0.5), with
the detector's box as its "bbox"; the three annotator files of a subset are scored as one
(the oracle). cgF1 is no ranking metric: ``coco.concept.threshold`` moves its operating point.

Meta's evaluation also scores boxes (CGF1Evaluator(iou_type="bbox") on the same dump): its
"bbox" is the detector's box (its postprocessor's pred_boxes, not a box of the mask), so the box
figures are those of the detections and the same for every mask row: one "boxes" entry, matched
by box IoU, beside the three mask rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from samhq_train.evaluation.coco import encode_mask
from samhq_train.evaluation.coco_concept import CONCEPT_SOURCES, concept_row_labels
from samhq_train.evaluation.coco_runner import read_gt_image, write_coco_outputs
from samhq_train.evaluation.report import MODEL_LABELS
from samhq_train.evaluation.saco_metrics import (
    CGF1_THRESHOLD,
    SacoGT,
    cgf1_metrics,
)
from samhq_train.inference.concept import ConceptPredictor
from samhq_train.progress import track

__all__ = ["evaluate_saco_model", "predict_saco", "saco_markdown"]

# the table's columns: (figure, header, percent)
COLUMNS = (
    ("cgF1", "cgF1", True), ("IL_MCC", "IL_MCC", False), ("positive_micro_F1", "pmF1", True),
    ("cgF1@0.5", "cgF1@50", True), ("cgF1@0.75", "cgF1@75", True),
    ("positive_micro_F1@0.5", "pmF1@50", True), ("positive_micro_F1@0.75", "pmF1@75", True),
)


def detector_threshold(threshold: float) -> float:
    """ConceptPredictor keeps the (float32) scores above its threshold, SA-Co counts those at or
    above it: the float32 just under the least float32 that is >= threshold."""
    least = np.float32(threshold)
    if float(least) < threshold:  # float64: numpy 2 would compare in float32
        least = np.nextafter(least, np.float32(1))
    return max(float(np.nextafter(least, np.float32(0))), 0.0)


@torch.no_grad()
def predict_saco(
    predictor: ConceptPredictor,
    gt: SacoGT,
    image_dir: str | Path,
    *,
    threshold: float = CGF1_THRESHOLD,
    hq_token_only: bool = False,
    sam_baseline: bool = True,
    progress: bool = True,
) -> dict[str, list[dict]]:
    """COCO results per mask source, ``{"detector": [...], "sam": [...], "hq": [...]}`` ("sam"
    only with sam_baseline), each ``{"image_id" (the pair's id), "category_id" (the GT's
    first), "bbox" (x, y, w, h, the detector's box), "score", "segmentation": RLE}`` over the
    same detections: those of each scored pair with score >= threshold. An image is encoded
    once for all its pairs."""
    sources = [s for s in CONCEPT_SOURCES if sam_baseline or s != "sam"]
    predictions: dict[str, list[dict]] = {s: [] for s in sources}
    category_id = sorted(gt.files[0].getCatIds())[0]
    pairs_of: dict[str, list] = {}
    for pair_id in gt.pair_ids:
        pairs_of.setdefault(gt.pair(pair_id)["file_name"], []).append(pair_id)
    for pair_ids in track(list(pairs_of.values()), "SA-Co images", enabled=progress):
        predictor.set_image(read_gt_image(image_dir, gt.pair(pair_ids[0])))
        for pair_id in pair_ids:
            found = predictor.predict(gt.pair(pair_id)["text_input"], refine=False,
                                      threshold=detector_threshold(threshold))
            masks = {"detector": list(found.detector_masks)}
            for source in sources[1:]:
                masks[source] = [] if not len(found) else list(predictor.refine(
                    found.boxes, use_hq=source == "hq", hq_token_only=hq_token_only
                )[0])
            boxes = [[x0, y0, x1 - x0, y1 - y0] for x0, y0, x1, y1 in found.boxes.tolist()]
            for source in sources:
                for k, mask in enumerate(masks[source]):
                    predictions[source].append({
                        "image_id": pair_id, "category_id": category_id, "bbox": boxes[k],
                        "score": float(found.scores[k]), "segmentation": encode_mask(mask),
                    })
    return predictions


BOXES = "boxes"  # the metrics' entry of the box figures (the detections', every row's)
BOXES_LABEL = "SAM 3 detector boxes (box IoU)"


def saco_markdown(metrics: Mapping[str, Mapping[str, float]], caption: str,
                  labels: Mapping[str, str]) -> str:
    """Markdown table: cgF1 and pmF1 in percent, IL_MCC as a fraction (as Meta's tables), one
    row per entry of labels that metrics has, under a caption line."""
    lines = ["### SA-Co", "", caption, "",
             "| model | " + " | ".join(header for _, header, _ in COLUMNS) + " |",
             "|---|" + "---:|" * len(COLUMNS)]

    def cell(value: float, percent: bool) -> str:
        if value == -1.0:  # no pair to average (saco_metrics)
            return "n/a"
        return f"{100 * value:.2f}" if percent else f"{value:.3f}"

    for source, label in labels.items():
        if source in metrics:
            cells = [cell(metrics[source][name], percent) for name, _, percent in COLUMNS]
            lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines.append("")
    return "\n".join(lines)


def evaluate_saco_model(
    predictor: ConceptPredictor,
    *,
    gt: SacoGT,
    image_dir: str | Path,
    threshold: float = CGF1_THRESHOLD,
    hq_token_only: bool = False,
    sam_baseline: bool = True,
    labels: Mapping[str, str] = MODEL_LABELS,
    progress: bool = True,
    out_dir: str | Path | None = None,
) -> dict:
    """predict_saco + saco_metrics.cgf1_metrics per mask source (gt as checks.read_saco_inputs gives
    it; labels: the SAM and SAM-HQ rows' names, report.model_labels).

    Returns ``{"metrics": {"detector"|"sam"|"hq"|"boxes": {"cgF1", "cgF1@0.5", ...,
    "IL_MCC", ...}}, "table": Markdown, "paths": {...}, "predictions": {...}}`` ("boxes": the
    detections' box figures); with ``out_dir`` writes ``saco_results_<source>.json``,
    ``saco_metrics.json`` and ``saco.md``."""
    predictions = predict_saco(
        predictor, gt, image_dir, threshold=threshold, hq_token_only=hq_token_only,
        sam_baseline=sam_baseline, progress=progress,
    )
    metrics = {source: cgf1_metrics(gt, preds, threshold)
               for source, preds in predictions.items()}
    metrics[BOXES] = cgf1_metrics(gt, predictions["detector"], threshold, iou_type="bbox")
    n_images = len({gt.pair(i)["file_name"] for i in gt.pair_ids})
    caption = (
        f"{len(gt.pair_ids)} (image, noun phrase) pairs on {n_images} images, "
        f"{len(gt.files)} GT file(s) (the most favourable per pair), "
        f"{len(predictions['detector'])} detections with score >= {threshold}; the same "
        "detections in every row, only the masks differ; the boxes row: the detections' boxes "
        "by box IoU, the same for every mask row"
    )
    table = saco_markdown(metrics, caption, {**concept_row_labels(labels), BOXES: BOXES_LABEL})
    paths = write_coco_outputs(out_dir, predictions, metrics, table, name="saco")
    return {"metrics": metrics, "table": table, "paths": paths, "predictions": predictions}
