"""Benchmark runner: SAM vs SAM-HQ on the HQ benchmark sets (or any configured set).

For every image of every set it runs the shared evaluation step (evaluate.predict_batch: one
image embedding, the HQ output and the plain-SAM baseline) and scores it with the same
DatasetMetrics that validation uses during training, so the numbers of the two agree. Output:

- ``results.md``: one Markdown table per set (mIoU, mBIoU, count for SAM and SAM-HQ, in percent)
  and the mean over sets (the figure the paper reports for its four HQ sets);
- ``scores.json``: the settings, the per-set results (fractions) and every image's scores;
- ``overlays/<set>/NN_<name>.png``: the ``n_worst`` images with the lowest SAM-HQ mask IoU, SAM
  beside SAM-HQ (predicted region tinted, GT boundary green, predicted boundary red).

Images with an empty GT mask cannot be prompted: the datamodule raises an error naming the file
(``data.strict_eval: true``, the default) or skips them with a warning. The metrics of empty
masks are defined in metrics.py.
"""

from __future__ import annotations

import contextlib
import heapq
import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from tqdm.auto import tqdm

from samhq_train.data.prompts import PROMPT_TYPES
from samhq_train.evaluation.evaluate import (
    DatasetMetrics,
    mean_over_sets,
    overlay,
    predict_batch,
)

log = logging.getLogger(__name__)

MODEL_LABELS = {"sam": "SAM", "hq": "SAM-HQ"}  # table rows, in this order
PRECISIONS = {"32": None, "bf16": torch.bfloat16, "16": torch.float16}


class EvaluationError(ValueError):
    """Evaluation input that cannot be used; the message names the file or setting to fix."""


def resolve_device(device: str | torch.device | None) -> torch.device:
    """"auto" (or None): CUDA when available, else CPU; refuses CUDA where there is none."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise EvaluationError(f"device={device}: CUDA is not available here; use device=cpu")
    return device


def autocast(device: torch.device, precision: str | int):
    """Autocast context for precision "32" (none), "bf16" or "16"."""
    precision = str(precision)
    if precision not in PRECISIONS:
        raise EvaluationError(f"precision must be one of {list(PRECISIONS)}, got {precision!r}")
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def load_model(
    checkpoint: str | Path | None = None,
    *,
    variant: str | None = None,
    base_checkpoint: str | Path | None = None,
    seed: int | None = None,
):
    """The model to evaluate: a checkpoint in any format ``load_checkpoint`` reads (variant
    read from the file when None), or without one the seeded random backbone of ``variant``
    (the tiny demo model). Raises CheckpointError (a ValueError naming the file) on bad files."""
    from samhq_train.model import CheckpointError, build_sam_hq, load_checkpoint

    if checkpoint is not None:
        return load_checkpoint(checkpoint, variant, base_checkpoint=base_checkpoint)
    if variant is None or seed is None:
        raise CheckpointError(
            "no weights to evaluate: pass checkpoint=/path/to/weights (official SAM or SAM-HQ "
            ".pth, transformers directory, .safetensors, an HQ-only file with base_checkpoint=, "
            "or a training .ckpt)"
        )
    return build_sam_hq(variant, seed=int(seed))


class _WorstImages:
    """The n images of a set with the lowest score (ties: the earlier image is kept)."""

    def __init__(self, n: int):
        self.n = n
        # (-score, -index, item): heap[0] is the kept image with the highest score
        self.heap: list[tuple[float, int, dict]] = []

    def wants(self, score: float, index: int) -> bool:
        return self.n > 0 and (len(self.heap) < self.n or (-score, -index) > self.heap[0][:2])

    def add(self, score: float, index: int, item: dict) -> None:
        entry = (-score, -index, item)
        if len(self.heap) < self.n:
            heapq.heappush(self.heap, entry)
        else:
            heapq.heapreplace(self.heap, entry)

    def sorted(self) -> list[dict]:
        return [item for _, _, item in sorted(self.heap, key=lambda e: (-e[0], -e[1]))]


@torch.no_grad()
def run_benchmark(
    model: torch.nn.Module,
    loaders: Sequence[tuple[str, Iterable[dict]]],
    *,
    prompt: str = "box",
    sam_baseline: bool = True,
    hq_token_only: bool = True,
    n_worst: int = 8,
    device: str | torch.device = "cpu",
    precision: str = "32",
    dilation_ratio: float = 0.02,
    progress: bool = True,
) -> dict:
    """Evaluate ``model`` on each (set name, batches) pair; batches follow the batch contract.

    Returns ``{"results": {"hq"|"sam": {set: {"mIoU", "mBIoU", "count"}}}, "images": [{"dataset",
    "name", "hq": {"iou", "biou"}, "sam": {...}}], "worst": {set: [{"name", "image", "gt",
    "masks": {model: bool H x W}, "scores": ...}]}}`` (fractions; worst images by SAM-HQ IoU,
    lowest first).

    Raises:
        EvaluationError: an unknown prompt, or a set without any image to evaluate.
    """
    if prompt not in PROMPT_TYPES:
        raise EvaluationError(f"prompt must be one of {PROMPT_TYPES}, got {prompt!r}")
    device = resolve_device(device)
    model = model.to(device).eval()
    outputs = ["sam", "hq"] if sam_baseline else ["hq"]
    names = [name for name, _ in loaders]
    metrics = {
        out: DatasetMetrics(names, dilation_ratio=dilation_ratio).to(device) for out in outputs
    }
    images: list[dict] = []
    worst: dict[str, list[dict]] = {}
    for name, loader in loaders:
        keep = _WorstImages(n_worst)
        total = len(loader.dataset) if hasattr(loader, "dataset") else None
        bar = tqdm(total=total, desc=name, unit="img", disable=not progress, dynamic_ncols=True)
        index = 0
        for batch in loader:
            batch = _to_device(batch, device)
            with autocast(device, precision):
                logits = predict_batch(
                    model, batch, prompt=prompt, hq_token_only=hq_token_only,
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
    results = {out: metrics[out].compute() for out in outputs}
    return {"results": results, "images": images, "worst": worst}


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
    }


def overlay_picture(item: Mapping, min_width: int = 256) -> np.ndarray:
    """One overlay per model side by side, each under a label strip with its scores: uint8 RGB.

    Pictures narrower than ``min_width`` are enlarged by an integer factor (nearest neighbour).
    """
    panels = []
    for out in MODEL_LABELS:
        if out not in item["masks"]:
            continue
        # overlay() draws `logits > 0`: give it the binary mask as +-1 logits
        logits = item["masks"][out].float() * 2 - 1
        panel = overlay(item["image"].float(), logits, item["gt"]).permute(1, 2, 0).numpy()
        factor = -(-min_width // panel.shape[1])
        if factor > 1:
            panel = np.repeat(np.repeat(panel, factor, axis=0), factor, axis=1)
        s = item["scores"][out]
        lines = [MODEL_LABELS[out], f"IoU {100 * s['iou']:.1f}  BIoU {100 * s['biou']:.1f}"]
        panels.append(np.concatenate([_label_strip(lines, panel.shape[1]), panel], axis=0))
    gap = np.full((panels[0].shape[0], 4, 3), 255, np.uint8)
    return np.concatenate([p for panel in panels for p in (panel, gap)][:-1], axis=1)


def _label_strip(lines: Sequence[str], width: int) -> np.ndarray:
    font = cv2.FONT_HERSHEY_SIMPLEX
    # sized for the longest possible line, so that every panel gets the same strip
    text_width = cv2.getTextSize("IoU 100.0  BIoU 100.0", font, 1.0, 1)[0][0]
    scale = float(np.clip((width - 8) / text_width, 0.3, 1.2))
    line_height = int(30 * scale) + 4
    strip = np.full((line_height * len(lines) + 4, width, 3), 255, np.uint8)
    for k, text in enumerate(lines):
        cv2.putText(strip, text, (4, line_height * (k + 1) - 4), font, scale, (0, 0, 0),
                    1 if scale < 0.8 else 2, cv2.LINE_AA)
    return strip


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:120]


def markdown_tables(results: Mapping[str, Mapping[str, Mapping]], prompt: str = "box") -> str:
    """One Markdown table per set (and the mean over sets when there are several), in percent."""
    outputs = [out for out in MODEL_LABELS if out in results]
    sets = list(next(iter(results.values())))
    lines = []
    for name in sets:
        lines += [f"### {name}", "", f"{results['hq'][name]['count']} images, prompt: {prompt}", "",
                  "| model | mIoU | mBIoU | count |", "|---|---:|---:|---:|"]
        for out in outputs:
            r = results[out][name]
            lines.append(f"| {MODEL_LABELS[out]} | {100 * r['mIoU']:.2f} | "
                         f"{100 * r['mBIoU']:.2f} | {r['count']} |")
        lines.append("")
    if len(sets) > 1:
        lines += [f"### Mean over {len(sets)} sets", "", "(the mean of the per-set means)", "",
                  "| model | mIoU | mBIoU | count |", "|---|---:|---:|---:|"]
        for out in outputs:
            mean = mean_over_sets(results[out])
            lines.append(f"| {MODEL_LABELS[out]} | {100 * mean['mIoU']:.2f} | "
                         f"{100 * mean['mBIoU']:.2f} | {mean['count']} |")
        lines.append("")
    return "\n".join(lines)


def write_report(result: Mapping, out_dir: str | Path, *, settings: Mapping | None = None,
                 title: str = "SAM vs SAM-HQ") -> dict[str, Path]:
    """Write results.md, scores.json and the overlay PNGs of ``run_benchmark``'s result."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = dict(settings or {})
    table = markdown_tables(result["results"], settings.get("prompt", "box"))
    paths = {"table": out_dir / "results.md", "scores": out_dir / "scores.json", "overlays": []}
    paths["table"].write_text(f"## {title}\n\n{table}")
    summary = {out: {"sets": res, "mean_over_sets": mean_over_sets(res)}
               for out, res in result["results"].items()}
    paths["scores"].write_text(json.dumps(
        {"settings": settings, "results": summary, "images": result["images"]}, indent=1
    ) + "\n")
    for name, items in result["worst"].items():
        folder = out_dir / "overlays" / _safe(name)
        folder.mkdir(parents=True, exist_ok=True)
        for rank, item in enumerate(items):
            path = folder / f"{rank:02d}_{_safe(item['name'])}.png"
            if not cv2.imwrite(str(path), cv2.cvtColor(overlay_picture(item), cv2.COLOR_RGB2BGR)):
                raise EvaluationError(f"could not write {path}")
            paths["overlays"].append(path)
    return paths


def _select_sets(datamodule, wanted: Sequence[str] | None):
    if not wanted:
        return datamodule
    names = datamodule.test_names
    unknown = [w for w in wanted if w not in names]
    if unknown:
        raise EvaluationError(f"sets {unknown} are not configured; the data config has {names}")
    specs = [s for s, n in zip(datamodule.test_specs, names) if n in set(wanted)]
    datamodule.test_specs = specs  # read by setup("test")
    return datamodule


def evaluate(cfg) -> dict:
    """Everything scripts/evaluate.py does, from a conf/eval.yaml config: load the model, run
    the benchmark sets (and COCO when ``coco.detections`` is set), write the reports.

    Returns ``{"benchmark": run_benchmark's result or None, "coco": {...} or None,
    "paths": {...}, "model": the model}``. Raises CheckpointError / DataError /
    EvaluationError (ValueError / Exception subclasses whose message says what to fix).
    """
    from hydra.utils import to_absolute_path
    from omegaconf import OmegaConf

    from samhq_train.data import build_datamodule

    def path_or_none(p):
        return None if p in (None, "") else to_absolute_path(str(p))

    device = resolve_device(cfg.device)
    checkpoint = path_or_none(cfg.get("checkpoint") or cfg.model.get("checkpoint"))
    model = load_model(
        checkpoint,
        variant=cfg.get("variant") or (None if checkpoint else cfg.model.variant),
        base_checkpoint=path_or_none(cfg.get("base_checkpoint")),
        seed=cfg.model.get("seed"),
    )
    out_dir = Path(to_absolute_path(str(cfg.output_dir)))
    settings = {
        "checkpoint": checkpoint or f"random {cfg.model.variant} backbone, seed {cfg.model.seed}",
        "image_size": model.image_size,
        "prompt": cfg.prompt,
        "hq_token_only": bool(cfg.hq_token_only),
        "sam_baseline": bool(cfg.sam_baseline),
        "eval_transform": OmegaConf.to_container(cfg.data.get("eval_transform") or {}, resolve=True),
        "dilation_ratio": float(cfg.dilation_ratio),
        "precision": str(cfg.precision),
        "device": str(device),
    }
    out = {"benchmark": None, "coco": None, "paths": {}, "model": model}
    if cfg.benchmark:
        datamodule = build_datamodule(cfg.data, image_size=model.image_size)
        datamodule = _select_sets(datamodule, cfg.get("sets"))
        datamodule.prepare_data()
        datamodule.setup("test")
        loaders = list(zip(datamodule.test_names, datamodule.test_dataloader()))
        result = run_benchmark(
            model, loaders, prompt=cfg.prompt, sam_baseline=cfg.sam_baseline,
            hq_token_only=cfg.hq_token_only, n_worst=cfg.n_worst, device=device,
            precision=str(cfg.precision), dilation_ratio=cfg.dilation_ratio,
            progress=cfg.progress,
        )
        out["benchmark"] = result
        out["paths"].update(write_report(result, out_dir, settings=settings))
        print(markdown_tables(result["results"], cfg.prompt))
    coco_cfg = cfg.get("coco") or {}
    if coco_cfg.get("detections"):
        from samhq_train.evaluation.coco_runner import evaluate_coco_model

        missing = [k for k in ("annotation_file", "image_dir") if not coco_cfg.get(k)]
        if missing:
            raise EvaluationError(
                f"coco.detections is set but coco.{missing[0]} is not: give the GT json "
                "(coco.annotation_file=...) and the image folder (coco.image_dir=...)"
            )

        coco = evaluate_coco_model(
            model,
            annotation_file=to_absolute_path(str(coco_cfg.annotation_file)),
            image_dir=to_absolute_path(str(coco_cfg.image_dir)),
            detections=to_absolute_path(str(coco_cfg.detections)),
            transform=coco_cfg.transform,
            hq_token_only=coco_cfg.hq_token_only,
            sam_baseline=cfg.sam_baseline,
            max_detections=coco_cfg.max_detections,
            prompt_batch=coco_cfg.prompt_batch,
            num_workers=coco_cfg.num_workers,
            device=device,
            precision=str(cfg.precision),
            dilation_ratio=cfg.dilation_ratio,
            progress=cfg.progress,
            out_dir=out_dir,
        )
        out["coco"] = coco
        out["paths"].update(coco["paths"])
        print(coco["table"])
    if out["benchmark"] is None and out["coco"] is None:
        raise EvaluationError("nothing to evaluate: benchmark=false and no coco.detections given")
    log.info("evaluation written to %s", out_dir)
    return out
