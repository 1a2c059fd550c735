"""The benchmark loop: SAM vs SAM-HQ on the HQ benchmark sets (or any configured set).

For every image of every set it runs the shared evaluation step (evaluate.predict_batch: one
image embedding, the HQ output and the plain-SAM baseline) with each sample's own prompt kind
(``batch["prompt_type"]``, from ``data.prompts.eval_prompt``, as in validation) and scores it with
the same DatasetMetrics that validation uses during training, so the numbers of the two agree.

Images with an empty GT mask cannot be prompted: the datamodule raises an error naming the file
(``data.strict_eval: true``, the default) or skips them with a warning. The metrics of empty
masks are defined in metrics.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch

from samhq_train.constants import BOUNDARY_DILATION_RATIO
from samhq_train.evaluation.device import autocast, canonical_precision, resolve_device
from samhq_train.evaluation.errors import EvaluationError
from samhq_train.evaluation.evaluate import DatasetMetrics, predict_batch
from samhq_train.evaluation.worst import WorstImages
from samhq_train.progress import Progress


@torch.no_grad()
def run_benchmark(
    model: torch.nn.Module,
    loaders: Sequence[tuple[str, Iterable[dict]]],
    *,
    sam_baseline: bool = True,
    hq_token_only: bool = True,
    n_worst: int = 8,
    device: str | torch.device = "cpu",
    precision: str = "32",
    dilation_ratio: float = BOUNDARY_DILATION_RATIO,
    progress: bool = True,
) -> dict:
    """Evaluate ``model`` on each (set name, batches) pair; batches follow the batch contract.

    Returns ``{"results": {"hq"|"sam": {set: {"mIoU", "mBIoU", "count"}}}, "prompts": {set:
    "box" (the prompt kinds used, joined by "+")}, "images": [{"dataset", "name", "hq": {"iou",
    "biou"}, "sam": {...}}], "worst": {set: [{"name", "image", "gt", "masks": {model: bool H x W},
    "scores": ...}]}}`` (fractions; worst images by SAM-HQ IoU, lowest first).

    Raises:
        EvaluationError: a set without any image to evaluate, a prediction and GT of different
            sizes, an unknown precision.
    """
    device = resolve_device(device)
    precision = canonical_precision(precision)
    model = model.to(device).eval()
    outputs = ["sam", "hq"] if sam_baseline else ["hq"]
    names = [name for name, _ in loaders]
    metrics = {
        out: DatasetMetrics(names, dilation_ratio=dilation_ratio).to(device) for out in outputs
    }
    images: list[dict] = []
    worst: dict[str, list[dict]] = {}
    prompts: dict[str, str] = {}
    for name, loader in loaders:
        keep = WorstImages(n_worst)
        kinds: dict[str, None] = {}
        total = len(loader.dataset) if hasattr(loader, "dataset") else None
        bar = Progress(total, f"evaluate {name}", enabled=progress)
        index = 0
        for batch in loader:
            batch = _to_device(batch, device)
            kinds.update(dict.fromkeys(batch["prompt_type"]))
            with autocast(device, precision):
                logits = predict_batch(
                    model, batch, prompt=None, hq_token_only=hq_token_only,
                    sam_baseline=sam_baseline,
                )
            gts = batch["gt_original"]
            _check_sizes(batch, logits["hq"], gts)
            scores = {}
            for out in outputs:
                scores[out] = metrics[out].update(batch["dataset"], logits[out], gts)
            for i, image_name in enumerate(batch["name"]):
                per_out = {out: {"iou": scores[out][0][i], "biou": scores[out][1][i]}
                           for out in outputs}
                images.append({"dataset": batch["dataset"][i], "name": image_name, **per_out})
                if keep.wants(per_out["hq"]["iou"], index):
                    keep.add(per_out["hq"]["iou"], index, _worst_item(batch, i, logits, per_out))
                index += 1
            bar.update(len(batch["name"]))
        bar.close()
        if index == 0:
            raise EvaluationError(
                f"set {name}: no image could be evaluated (every sample was skipped or the set "
                "is empty); check its folders and masks"
            )
        worst[name] = keep.sorted()
        prompts[name] = "+".join(kinds)
    results = {out: metrics[out].compute() for out in outputs}
    return {"results": results, "prompts": prompts, "images": images, "worst": worst}


def _to_device(batch: dict, device: torch.device) -> dict:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def _check_sizes(batch: dict, logits: Sequence[torch.Tensor], gts: Sequence[torch.Tensor]):
    for i, (pred, gt) in enumerate(zip(logits, gts)):
        if tuple(pred.shape) != tuple(gt.shape):
            raise EvaluationError(
                f"{batch['dataset'][i]}/{batch['name'][i]}: prediction of size "
                f"{tuple(pred.shape)} but GT of size {tuple(gt.shape)} (original_size in the "
                f"batch says {tuple(batch['original_size'][i])})"
            )


def _worst_item(batch: dict, i: int, logits: dict, scores: dict) -> dict:
    h, w = batch["input_size"][i]
    return {
        "dataset": batch["dataset"][i],
        "name": batch["name"][i],
        "image": batch["image"][i, :, :h, :w].round().clamp(0, 255).to(torch.uint8).cpu(),
        "gt": batch["gt_original"][i].cpu(),
        "masks": {out: (logits[out][i] > 0).cpu() for out in logits},
        "scores": scores,
        "prompt": _prompt_in_original_pixels(batch, i),
    }


def _prompt_in_original_pixels(batch: dict, i: int) -> dict:
    """The sample's box / points (x, y, label) scaled from the model frame to the GT's pixels,
    for the overlay; a noise-mask prompt has neither."""
    (h, w), (height, width) = batch["input_size"][i], batch["gt_original"][i].shape[-2:]
    scale = np.array([width / w, height / h])
    kind, box, points = batch["prompt_type"][i], None, None
    if kind == "box":
        box = (batch["boxes"][i].detach().cpu().double().numpy().reshape(2, 2) * scale).ravel()
    elif kind == "point":
        labels = batch["point_labels"][i].detach().cpu().numpy()
        xy = batch["points"][i].detach().cpu().double().numpy() * scale
        keep = np.isin(labels, (0, 1))
        points = np.concatenate([xy[keep], labels[keep, None]], axis=1)
    return {"type": kind, "box": box, "points": points}
