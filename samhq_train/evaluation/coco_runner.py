"""COCO instance evaluation of the model: a detector's boxes as prompts, mask AP and boundary AP.

The paper's protocol: every detection box of an image (FocalNet-DINO's in the paper) prompts
the model once; the mask takes the detection's category and score; masks are encoded as RLE and
scored with coco.evaluate_coco (pycocotools' mask AP, and boundary AP). SAM (the frozen decoder
without the HQ token) and SAM-HQ share each image embedding. An LVIS v1 json (the paper's
LVIS rows, prompted with ViTDet-H's boxes) is scored with LVIS's federated mask AP and boundary
AP instead (lvis_boxes.py), 300 detections per image.

Defaults follow the official predictor that produced the published COCO numbers: the image's long
side resized to S and padded ("longest_side"), and ``hq_token_only=False`` (SAM's mask logits plus
the HQ logits).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from samhq_train.constants import BOUNDARY_DILATION_RATIO
from samhq_train.data import DataError
from samhq_train.data.transform_builders import build_eval_transform
from samhq_train.evaluation.coco import (
    AP_NAMES,
    encode_mask,
    evaluate_coco,
    load_coco,
    load_detections,
    write_results_json,
)
from samhq_train.evaluation.device import autocast, canonical_precision, resolve_device
from samhq_train.evaluation.errors import EvaluationError
from samhq_train.evaluation.evaluate import logits_at_original_size
from samhq_train.evaluation.lvis_boxes import lvis_box_prompt_markdown, score_lvis_masks
from samhq_train.evaluation.lvis_gt import image_file, is_lvis, max_detections_of
from samhq_train.evaluation.report import MODEL_LABELS
from samhq_train.files import atomic_write_text
from samhq_train.image_header import ImageFileError
from samhq_train.imaging import read_image
from samhq_train.progress import track

__all__ = [
    "CocoPromptImages", "coco_markdown", "evaluate_coco_model", "predict_coco", "read_gt_image",
    "write_coco_outputs",
]


class CocoPromptImages(Dataset):
    """One item per GT image that has detections: the image in the S x S model frame and its
    detection boxes scaled into that frame (as SAM's predictor scales prompts)."""

    def __init__(self, coco_gt, image_dir: str | Path, detections: Mapping[int, list[dict]],
                 image_size: int, transform: str = "longest_side", max_detections: int = 100):
        self.coco, self.image_dir = coco_gt, Path(image_dir)
        if not self.image_dir.is_dir():
            raise DataError(f"COCO image folder not found: {self.image_dir}")
        self.detections = {i: d[:max_detections] for i, d in detections.items() if d}
        self.image_ids = sorted(self.detections, key=lambda i: (isinstance(i, str), i))
        self.transform = build_eval_transform(image_size, mode=transform)

    def __len__(self) -> int:
        return len(self.image_ids)

    def __getitem__(self, idx: int) -> dict:
        image_id = self.image_ids[idx]
        try:
            image = read_gt_image(self.image_dir, self.coco.imgs[image_id])
        except EvaluationError as err:  # travels as data: raised in the main process, not a worker
            return {"error": str(err)}
        h, w = image.shape[:2]
        out = self.transform(image, np.zeros((h, w), np.float32))
        ih, iw = out.input_size
        boxes = np.array([d["box_xyxy"] for d in self.detections[image_id]], np.float32)
        boxes *= np.array([iw / w, ih / h, iw / w, ih / h], np.float32)
        return {
            "image_id": image_id,
            "image": torch.from_numpy(out.image).permute(2, 0, 1).float(),
            "boxes": torch.from_numpy(boxes),
            "input_size": (ih, iw),
            "content_size": out.content_size,
            "original_size": (h, w),
            "detections": self.detections[image_id],
        }


def read_gt_image(image_dir: str | Path, info: Mapping) -> np.ndarray:
    """The H x W x 3 uint8 RGB image of a GT json's image entry; EvaluationError naming the file
    when it cannot be read or its size is not the json's."""
    path = Path(image_dir) / image_file(info)
    try:
        image = read_image(path)
    except ImageFileError as err:
        raise EvaluationError(str(err)) from None
    h, w = image.shape[:2]
    if (info.get("height"), info.get("width")) != (h, w):
        raise EvaluationError(
            f"{path}: the GT json says {info.get('width')}x{info.get('height')} but the image is "
            f"{w}x{h} (WxH); fix the json or the image"
        )
    return image


@torch.no_grad()
def predict_coco(
    model: torch.nn.Module,
    *,
    annotation_file,
    image_dir: str | Path,
    detections,
    transform: str = "longest_side",
    hq_token_only: bool = False,
    sam_baseline: bool = True,
    max_detections: int | None = None,
    prompt_batch: int = 32,
    num_workers: int = 0,
    device: str | torch.device = "cpu",
    precision: str = "32",
    progress: bool = True,
) -> dict[str, list[dict]]:
    """Masks for every detection box: ``{"hq": [...], "sam": [...]}``, each a list of
    ``{"image_id", "category_id", "score", "segmentation": RLE}`` (COCO results).

    Args:
        annotation_file: the GT json (path, dict or COCO): image sizes, ids and file names.
        detections: detections json path or list (COCO results with "bbox" x, y, w, h).
        max_detections: per image, the highest-scoring boxes kept (None: the json's protocol,
            lvis_gt.max_detections_of: COCO 100, LVIS 300).
        prompt_batch: boxes decoded per call.

    Raises:
        EvaluationError: detections whose image or category ids are not in the GT json, an
            image that cannot be read or whose size differs from the json (the file is named).
    """
    coco_gt = load_coco(annotation_file)
    max_detections = max_detections_of(max_detections, coco_gt.dataset)
    try:
        per_image = load_detections(detections, coco_gt)
    except ValueError as err:
        raise EvaluationError(str(err)) from None
    if not per_image:
        raise EvaluationError(f"{detections}: no detections, nothing to prompt the model with")
    device = resolve_device(device)
    precision = canonical_precision(precision)
    model = model.to(device).eval()
    dataset = CocoPromptImages(coco_gt, image_dir, per_image, model.image_size, transform,
                               max_detections)
    loader = DataLoader(dataset, batch_size=None, num_workers=num_workers)
    outputs = ["sam", "hq"] if sam_baseline else ["hq"]
    predictions: dict[str, list[dict]] = {out: [] for out in outputs}
    for item in track(loader, "COCO", total=len(dataset), enabled=progress):
        if "error" in item:
            raise EvaluationError(item["error"])
        image = item["image"].to(device)[None]
        with autocast(device, precision):
            features = model.encode(image, [item["content_size"]])
        boxes = item["boxes"].to(device)
        for start in range(0, len(boxes), prompt_batch):
            chunk = boxes[None, start : start + prompt_batch]
            for out in outputs:
                with autocast(device, precision):
                    low_res, _ = model.decode(
                        features, boxes=chunk, multimask_output=False,
                        hq_token_only=hq_token_only, use_hq=out == "hq",
                    )
                for k, det in enumerate(item["detections"][start : start + prompt_batch]):
                    logits = logits_at_original_size(
                        model, low_res[0, k], item["input_size"], item["original_size"]
                    )
                    predictions[out].append({
                        "image_id": det["image_id"],
                        "category_id": det["category_id"],
                        "score": det["score"],
                        "segmentation": encode_mask(logits > 0),
                    })
    return predictions


def coco_markdown(
    metrics: Mapping[str, Mapping[str, float]],
    caption: str,
    labels: Mapping[str, str] = MODEL_LABELS,
) -> str:
    """Markdown table: mask AP and boundary AP (percent), one row per entry of labels that
    metrics has, under a caption line (what prompted the masks). A row of box figures (box_*,
    coco.evaluate_boxes) shows box AP in the AP columns and no boundary AP (n/a)."""
    lines = [
        "### COCO", "", caption, "",
        "| model | AP_B | AP | " + " | ".join(AP_NAMES[1:]) + " |",
        "|---|" + "---:|" * (len(AP_NAMES) + 1),
    ]

    def pct(v: float) -> str:
        return "n/a" if v != v else f"{100 * v:.1f}"

    for out in labels:
        if out in metrics:
            m = metrics[out]
            kind = "mask" if "mask_AP" in m else "box"
            cells = [pct(m.get("boundary_AP", float("nan")))]
            cells += [pct(m[f"{kind}_{n}"]) for n in AP_NAMES]
            lines.append(f"| {labels[out]} | " + " | ".join(cells) + " |")
    lines.append("")
    return "\n".join(lines)


def evaluate_coco_model(
    model: torch.nn.Module,
    *,
    annotation_file,
    image_dir: str | Path,
    detections,
    dilation_ratio: float = BOUNDARY_DILATION_RATIO,
    max_detections: int | None = None,
    out_dir: str | Path | None = None,
    labels: Mapping[str, str] = MODEL_LABELS,
    **predict_kwargs,
) -> dict:
    """predict_coco + coco.evaluate_coco for SAM-HQ (and SAM); with an LVIS json
    (lvis_gt.is_lvis), LVIS's federated mask AP and boundary AP (lvis_boxes.score_lvis_masks).

    max_detections: per image, the highest-scoring boxes prompted and scored; None: the GT's
    protocol (COCO 100, LVIS 300). labels: the table's SAM and SAM-HQ rows (report.model_labels
    of the model's policy: after hq+decoder, SAM's row is the fine-tuned decoder).

    Returns ``{"metrics": {"hq"|"sam": {"mask_AP", ..., "boundary_AP", ...}}, "table": Markdown,
    "paths": {...}}``; with ``out_dir`` writes ``coco_results_<model>.json`` (COCO results),
    ``coco_metrics.json`` and ``coco.md`` (``lvis_*`` and ``lvis.md`` for an LVIS json, whose
    figures add APr / APc / APf).
    """
    coco_gt = load_coco(annotation_file)
    max_detections = max_detections_of(max_detections, coco_gt.dataset)
    predictions = predict_coco(model, annotation_file=coco_gt, image_dir=image_dir,
                               detections=detections, max_detections=max_detections,
                               **predict_kwargs)
    n_images = len({p["image_id"] for p in predictions["hq"]})
    caption = f"{n_images} images with {len(predictions['hq'])} detection boxes as prompts"
    if is_lvis(coco_gt.dataset):
        metrics = score_lvis_masks(coco_gt, predictions, max_detections=max_detections,
                                   dilation_ratio=dilation_ratio)
        caption += f"; LVIS's federated AP, at most {max_detections} per image"
        table = lvis_box_prompt_markdown(metrics, caption, labels)
        paths = write_coco_outputs(out_dir, predictions, metrics, table, name="lvis")
    else:
        metrics = {out: evaluate_coco(coco_gt, preds, dilation_ratio=dilation_ratio)
                   for out, preds in predictions.items()}
        table = coco_markdown(metrics, caption, labels)
        paths = write_coco_outputs(out_dir, predictions, metrics, table)
    return {"metrics": metrics, "table": table, "paths": paths, "predictions": predictions}


def write_coco_outputs(
    out_dir, predictions: Mapping[str, list], metrics: Mapping, table: str, name: str = "coco"
):
    """With an out_dir, ``<name>_results_<model>.json`` (COCO results) per model,
    ``<name>_metrics.json`` (NaN written as null) and ``<name>.md``; returns their paths by name
    (none without an out_dir)."""
    paths: dict[str, Path] = {}
    if out_dir is None:
        return paths
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for out, preds in predictions.items():
        paths[f"{name}_results_{out}"] = out_dir / f"{name}_results_{out}.json"
        write_results_json(preds, paths[f"{name}_results_{out}"])
    paths[f"{name}_metrics"] = out_dir / f"{name}_metrics.json"
    finite = {out: {k: None if v != v else v for k, v in m.items()} for out, m in metrics.items()}
    atomic_write_text(paths[f"{name}_metrics"], json.dumps(finite, indent=1) + "\n")
    paths[f"{name}_table"] = out_dir / f"{name}.md"
    atomic_write_text(paths[f"{name}_table"], table)
    return paths
