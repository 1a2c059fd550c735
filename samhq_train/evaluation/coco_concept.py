"""COCO instance evaluation of text prompts on HQ-SAM 3 (``coco.prompts=concept``): each
category's name prompts SAM 3's concept detector on each image, and the same detections (boxes
and scores, one detector run per image x category) are scored with three masks: the detector's
own (stride-4 head), the interactive decoder's without the HQ token (SAM 3's) and with it
(HQ-SAM 3's), so only the masks differ between the rows; the detections' boxes get box AP
(COCOeval 'bbox', the figure Meta's SAM 3 fine-tuning recipe validates with) in a row of their
own.

The protocol is Meta's SAM 3 COCO evaluation (sam3 0.1.4): every category of the GT json is
prompted on every image, including the categories the image has no instance of
(``COCO_FROM_JSON(include_negatives=True)``), with the category's ``name`` as the text;
``PostProcessImage`` keeps every query (``detection_threshold=-1``) and the image's
``max_dets_per_img`` highest scores over all its prompts. Here ``coco.concept.threshold`` (null
or 0: every query) and ``coco.max_detections`` (null: the json's protocol, COCO's 100) play
those parts; the kept boxes are refined by ConceptPredictor.refine, grouped per category as
ConceptPredictor.predict groups them.
``coco.concept.per_image=annotated`` prompts only the categories an image has GT of (cheaper; an
absent category then costs no false positives, so AP is higher than the open-vocabulary figure).
``coco.concept.exemplars``: each image x category with GT asked with one of its GT boxes instead
(Meta's visual evaluation on its positive split; coco_concept_exemplars.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from pycocotools.coco import COCO

from samhq_train.constants import BOUNDARY_DILATION_RATIO
from samhq_train.evaluation.coco import encode_mask, evaluate_boxes, evaluate_coco
from samhq_train.evaluation.coco_concept_exemplars import ExemplarPrompts
from samhq_train.evaluation.coco_concept_queries import concept_queries
from samhq_train.evaluation.coco_runner import (
    coco_markdown,
    read_gt_image,
    write_coco_outputs,
)
from samhq_train.evaluation.device import canonical_precision, resolve_device
from samhq_train.evaluation.lvis_concept import score_lvis_concepts
from samhq_train.evaluation.lvis_gt import is_lvis, max_detections_of
from samhq_train.evaluation.report import MODEL_LABELS
from samhq_train.inference.concept import ConceptPredictor
from samhq_train.progress import track

__all__ = [
    "BOXES", "CONCEPT_SOURCES", "coco_concept_row_labels", "concept_predictor",
    "concept_row_labels", "detect_image", "evaluate_concept_model",
    "predict_concepts",
]

# the mask sources, in table order: the detector's own masks, then its boxes decoded
CONCEPT_SOURCES = ("detector", "sam", "hq")
BOXES = "boxes"  # the detections' boxes: their results, metrics (box AP) and table row
BOXES_LABEL = "SAM 3 detector boxes (box AP)"
AMP_DTYPES = {"32": None, "bf16-mixed": torch.bfloat16, "16-mixed": torch.float16}


def detect_image(
    predictor: ConceptPredictor,
    prompts: Sequence,
    threshold: float,
    max_detections: int,
    exemplar_boxes: Sequence[np.ndarray] | None = None,
) -> dict:
    """The detector on the set image, one prompt per (category id, text): the image's
    max_detections highest-scoring instances over all prompts (a stable sort: ties keep the
    prompt order). exemplar_boxes: one box (4, x0 y0 x1 y1 pixels) per prompt, asked with its
    text as a positive exemplar (text None: the box alone). Returns {"category_ids", "scores",
    "boxes" (K x 4 pixels), "masks" (K x H x W, the detector's)}, K <= max_detections."""
    kept = {"prompt": np.zeros(0, np.int64), "scores": np.zeros(0, np.float32),
            "boxes": np.zeros((0, 4), np.float32), "masks": None}
    for index, (_, text) in enumerate(prompts):
        exemplar = {} if exemplar_boxes is None else {"exemplar_boxes": exemplar_boxes[index][None]}
        found = predictor.predict(text, refine=False, threshold=threshold, **exemplar)
        masks = found.detector_masks if kept["masks"] is None else np.concatenate(
            (kept["masks"], found.detector_masks)
        )
        pooled = {
            "prompt": np.concatenate((kept["prompt"], np.full(len(found), index))),
            "scores": np.concatenate((kept["scores"], found.scores)),
            "boxes": np.concatenate((kept["boxes"], found.boxes)),
            "masks": masks,
        }
        order = np.argsort(-pooled["scores"], kind="stable")[:max_detections]
        kept = {k: v[order] for k, v in pooled.items()}  # the running top: bounded memory
    kept["category_ids"] = np.array([category_id for category_id, _ in prompts])[kept.pop("prompt")]
    return kept


def _refined(predictor, kept: Mapping, use_hq: bool, hq_token_only: bool) -> list[np.ndarray]:
    """The decoder's masks of the kept boxes, one refine call per category (a prompt's boxes
    decoded together, as ConceptPredictor.predict decodes them)."""
    masks: list = [None] * len(kept["scores"])
    for category_id in dict.fromkeys(kept["category_ids"].tolist()):
        rows = np.flatnonzero(kept["category_ids"] == category_id)
        decoded, _ = predictor.refine(kept["boxes"][rows], use_hq=use_hq,
                                      hq_token_only=hq_token_only)
        for row, mask in zip(rows, decoded):
            masks[row] = mask
    return masks


@torch.no_grad()
def predict_concepts(
    predictor: ConceptPredictor,
    coco_gt: COCO,
    image_dir: str | Path,
    categories: Mapping,
    *,
    per_image: str | ExemplarPrompts = "all",
    threshold: float = 0.0,
    max_detections: int | None = None,
    hq_token_only: bool = False,
    sam_baseline: bool = True,
    progress: bool = True,
    queries: Mapping | None = None,
) -> dict[str, list[dict]]:
    """COCO results of the detections' boxes and per mask source, ``{"boxes": [...],
    "detector": [...], "sam": [...], "hq": [...]}`` ("sam" only with sam_baseline), each a list
    over the same detections of ``{"image_id", "category_id", "score"}`` with ``"bbox"`` ([x, y,
    width, height] pixels, as the detector gives them: not clipped, as Meta's PostProcessImage)
    or ``"segmentation"`` (RLE); only the images asked anything are read. per_image: the
    queries of an image (coco_concept_queries.image_queries), its categories by name ("all" or
    "annotated") or exemplar boxes (ExemplarPrompts, from draw_exemplars: each category with GT
    asked with one of its boxes); max_detections: per image (None: the json's protocol,
    lvis_gt.max_detections_of: COCO 100, LVIS 300); queries: what the check stage worked out of
    per_image (coco_concept_queries.concept_queries), else worked out here."""
    max_detections = max_detections_of(max_detections, coco_gt.dataset)
    sources = [s for s in CONCEPT_SOURCES if sam_baseline or s != "sam"]
    predictions: dict[str, list[dict]] = {BOXES: [], **{s: [] for s in sources}}
    if queries is None:
        queries = concept_queries(coco_gt, categories, per_image)
    for image_id in track(list(queries), "COCO concepts", enabled=progress):
        prompts, boxes = queries[image_id]
        predictor.set_image(read_gt_image(image_dir, coco_gt.imgs[image_id]))
        kept = detect_image(predictor, prompts, threshold, max_detections, boxes)
        masks = {"detector": list(kept["masks"])}
        for source in sources[1:]:
            masks[source] = _refined(predictor, kept, source == "hq", hq_token_only)
        category_ids, scores = kept["category_ids"].tolist(), kept["scores"].tolist()
        for k, (x0, y0, x1, y1) in enumerate(kept["boxes"].tolist()):
            predictions[BOXES].append({"image_id": image_id, "category_id": category_ids[k],
                                       "score": scores[k], "bbox": [x0, y0, x1 - x0, y1 - y0]})
        for source in sources:
            for k, mask in enumerate(masks[source]):
                predictions[source].append({
                    "image_id": image_id,
                    "category_id": category_ids[k],  # the json's own (int or str)
                    "score": scores[k],
                    "segmentation": encode_mask(mask),
                })
    return predictions


def concept_predictor(
    model: torch.nn.Module, bpe, *, threshold: float = 0.0, device="cpu", precision: str = "32"
) -> ConceptPredictor:
    """The model on the device with its ConceptPredictor (autocast for the mixed precisions);
    NoDetectorError, before any image is read, for a model without SAM 3's concept detector."""
    model = model.to(resolve_device(device)).eval()
    amp_dtype = AMP_DTYPES[canonical_precision(precision)]
    return ConceptPredictor(model, bpe, threshold=threshold, amp_dtype=amp_dtype)


def concept_row_labels(labels: Mapping[str, str] = MODEL_LABELS) -> dict[str, str]:
    """The tables' row names of the mask sources (labels: the SAM and SAM-HQ rows')."""
    return {"detector": "SAM 3 detector masks", "sam": labels["sam"], "hq": labels["hq"]}


def coco_concept_row_labels(labels: Mapping[str, str] = MODEL_LABELS) -> dict[str, str]:
    """The COCO table's rows: the detections' boxes, then the mask sources."""
    return {BOXES: BOXES_LABEL, **concept_row_labels(labels)}


def evaluate_concept_model(
    predictor: ConceptPredictor,
    *,
    coco_gt: COCO,
    image_dir: str | Path,
    categories: Mapping,
    per_image: str | ExemplarPrompts = "all",
    threshold: float = 0.0,
    max_detections: int | None = None,
    hq_token_only: bool = False,
    sam_baseline: bool = True,
    dilation_ratio: float = BOUNDARY_DILATION_RATIO,
    labels: Mapping[str, str] = MODEL_LABELS,
    progress: bool = True,
    out_dir: str | Path | None = None,
    queries: Mapping | None = None,
) -> dict:
    """predict_concepts + coco.evaluate_boxes of the boxes and coco.evaluate_coco per mask
    source, over the prompted categories (coco_gt and categories as
    coco_inputs.read_concept_inputs gives them; per_image, max_detections and queries as
    predict_concepts takes them; labels: the SAM and SAM-HQ rows' names, report.model_labels).

    Returns ``{"metrics": {"boxes": {"box_AP", ...}, "detector"|"sam"|"hq": {"mask_AP", ...,
    "boundary_AP", ...}}, "table": Markdown, "paths": {...}, "predictions": {...}}``; with
    ``out_dir`` writes ``coco_results_<boxes|detector|sam|hq>.json``, ``coco_metrics.json`` and
    ``coco.md``. An LVIS json (lvis_gt.is_lvis) is scored with LVIS's federated AP instead:
    lvis_concept.score_lvis_concepts (``lvis*`` files, no boundary AP)."""
    max_detections = max_detections_of(max_detections, coco_gt.dataset)
    predictions = predict_concepts(
        predictor, coco_gt, image_dir, categories, per_image=per_image, threshold=threshold,
        max_detections=max_detections, hq_token_only=hq_token_only, sam_baseline=sam_baseline,
        progress=progress, queries=queries,
    )
    n_images = len({p["image_id"] for p in predictions["detector"]})
    prompted = (f"{len(categories)} categories prompted by name ({per_image} per image)"
                if isinstance(per_image, str) else per_image.describe(len(categories)))
    caption = (
        f"{prompted}, {len(predictions['detector'])} detections on {n_images} images; the same "
        "boxes and scores in every row, only the masks differ"
    )
    if is_lvis(coco_gt.dataset):  # LVIS's federated AP, APr / APc / APf (lvis_concept.py)
        return score_lvis_concepts(
            coco_gt, predictions, categories=categories, max_detections=max_detections,
            caption=caption, labels=coco_concept_row_labels(labels), out_dir=out_dir,
        )
    metrics = {BOXES: evaluate_boxes(coco_gt, predictions[BOXES], category_ids=list(categories))}
    metrics.update({
        source: evaluate_coco(coco_gt, preds, dilation_ratio=dilation_ratio,
                              category_ids=list(categories))
        for source, preds in predictions.items() if source != BOXES
    })
    table = coco_markdown(metrics, caption, coco_concept_row_labels(labels))
    paths = write_coco_outputs(out_dir, predictions, metrics, table)
    return {"metrics": metrics, "table": table, "paths": paths, "predictions": predictions}
