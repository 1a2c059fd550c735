"""Reports: the one results table (evaluation and training's before/after summary), the overlay
PNGs of the worst images, and the files the benchmark writes.

- ``results.md``: one Markdown table per set (mIoU, mBIoU, count for SAM and SAM-HQ, in percent)
  and the mean over sets (the figure the paper reports for its four HQ sets);
- ``scores.json``: the settings, the per-set results (fractions) and every image's scores;
- ``overlays/<set>/NN_<name>.png``: the ``n_worst`` images with the lowest SAM-HQ mask IoU, SAM
  beside SAM-HQ (drawing.draw_overlay: predicted region tinted and outlined in orange, GT boundary
  in blue and twice as thick (a colour-blind-safe pair, told apart by width too), the prompt:
  its box, or its points as discs (foreground) and X marks (background));
- with ``clicks.enabled``: ``clicks.md`` (NoC@k, mIoU / mBIoU after n clicks per set, SAM and
  SAM-HQ; evaluation/clicks.py) and ``click_scores.json`` (every image's scores after each click).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import cv2
import numpy as np

from samhq_train.constants import GT_THRESHOLD
from samhq_train.drawing import draw_overlay
from samhq_train.evaluation.errors import EvaluationError
from samhq_train.evaluation.evaluate import mean_over_sets
from samhq_train.files import atomic_write_bytes, atomic_write_text

MODEL_LABELS = {"sam": "SAM", "hq": "SAM-HQ"}  # table rows, in this order
# what the decoder without the HQ token is after a run of each policy (evaluation/baseline.py)
SAM_LABELS = {
    "hq": "SAM",
    "hq+decoder": "SAM, fine-tuned decoder",
    "hq+lora": "SAM + LoRA adapters",
    "full": "SAM, fine-tuned",
}
NO_HQ_TOKEN = " (no HQ token)"  # training's table says how SAM is scored


def model_labels(policy: str = "hq") -> dict[str, str]:
    """The rows of a table of a model trained with `policy`, in this order: the untouched base
    ("sam_base", scored where the run kept it: evaluation/baseline.py), SAM as the run left it
    (the decoder without the HQ token: the base itself for policy hq) and SAM-HQ."""
    return {"sam_base": "SAM", "sam": SAM_LABELS[policy], "hq": "SAM-HQ"}


def results_tables(
    rows: Mapping[str, Mapping[str, Mapping]],
    *,
    notes: Mapping[str, str] | None = None,
    first_column: str = "model",
) -> str:
    """One Markdown table per set (and the mean over sets when there are several), in percent.

    rows: {row label: {set: {"mIoU", "mBIoU", "count"}}} (fractions); every row has the sets of
    the first. notes: per set, text after its image count (e.g. "prompt: box").
    """
    rows = {label: results for label, results in rows.items() if results}
    if not rows:
        return ""
    sets = list(next(iter(rows.values())))
    header = [f"| {first_column} | mIoU | mBIoU | count |", "|---|---:|---:|---:|"]

    def line(label: str, r: Mapping) -> str:
        return f"| {label} | {100 * r['mIoU']:.2f} | {100 * r['mBIoU']:.2f} | {r['count']} |"

    lines = []
    for name in sets:
        count = next(iter(rows.values()))[name]["count"]
        note = f", {notes[name]}" if notes and notes.get(name) else ""
        lines += [f"### {name}", "", f"{count} images{note}", "", *header]
        lines += [line(label, results[name]) for label, results in rows.items()]
        lines.append("")
    if len(sets) > 1:
        lines += [f"### Mean over {len(sets)} sets", "", "(the mean of the per-set means)", "",
                  *header]
        lines += [line(label, mean_over_sets(results)) for label, results in rows.items()]
        lines.append("")
    return "\n".join(lines)


def markdown_tables(result: Mapping, labels: Mapping[str, str] = MODEL_LABELS) -> str:
    """run_benchmark's result as results_tables: a SAM and a SAM-HQ row (labels: model_labels of
    the evaluated file's policy), the prompt per set."""
    rows = {labels[out]: result["results"][out] for out in labels if out in result["results"]}
    notes = {name: f"prompt: {kind}" for name, kind in (result.get("prompts") or {}).items()}
    return results_tables(rows, notes=notes)


def overlay_picture(
    item: Mapping, min_width: int = 256, labels: Mapping[str, str] = MODEL_LABELS
) -> np.ndarray:
    """One overlay per model side by side, each under a label strip with its scores: uint8 RGB.

    Pictures narrower than ``min_width`` are enlarged by an integer factor (nearest neighbour).
    """
    image = item["image"].permute(1, 2, 0).numpy()
    gt = item["gt"].numpy() > GT_THRESHOLD
    panels = []
    for out in labels:
        if out not in item["masks"]:
            continue
        prompt = item.get("prompt") or {}
        panel = draw_overlay(image, [item["masks"][out].numpy()], gt, boxes=prompt.get("box"),
                             points=prompt.get("points"))
        factor = -(-min_width // panel.shape[1])
        if factor > 1:
            panel = np.repeat(np.repeat(panel, factor, axis=0), factor, axis=1)
        s = item["scores"][out]
        lines = [labels[out], f"IoU {100 * s['iou']:.1f}  BIoU {100 * s['biou']:.1f}"]
        panels.append(np.concatenate([_label_strip(lines, panel.shape[1]), panel], axis=0))
    gap = np.full((panels[0].shape[0], 4, 3), 255, np.uint8)
    return np.concatenate([p for panel in panels for p in (panel, gap)][:-1], axis=1)


def _label_strip(lines: Sequence[str], width: int) -> np.ndarray:
    font = cv2.FONT_HERSHEY_SIMPLEX
    # sized for the longest possible line, so that every panel gets the same strip
    longest = max(["IoU 100.0  BIoU 100.0", *SAM_LABELS.values()], key=len)
    text_width = cv2.getTextSize(longest, font, 1.0, 1)[0][0]
    scale = float(np.clip((width - 8) / text_width, 0.3, 1.2))
    line_height = int(30 * scale) + 4
    strip = np.full((line_height * len(lines) + 4, width, 3), 255, np.uint8)
    for k, text in enumerate(lines):
        cv2.putText(strip, text, (4, line_height * (k + 1) - 4), font, scale, (0, 0, 0),
                    1 if scale < 0.8 else 2, cv2.LINE_AA)
    return strip


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:120]


def write_report(result: Mapping, out_dir: str | Path, *, settings: Mapping | None = None,
                 title: str = "SAM vs SAM-HQ",
                 labels: Mapping[str, str] = MODEL_LABELS) -> dict[str, Path]:
    """Write results.md, scores.json and the overlay PNGs of ``run_benchmark``'s result."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = dict(settings or {})
    paths = {"table": out_dir / "results.md", "scores": out_dir / "scores.json", "overlays": []}
    atomic_write_text(paths["table"], f"## {title}\n\n{markdown_tables(result, labels)}")
    summary = {out: {"sets": res, "mean_over_sets": mean_over_sets(res)}
               for out, res in result["results"].items()}
    atomic_write_text(paths["scores"], json.dumps(
        {"settings": settings, "results": summary, "prompts": result.get("prompts", {}),
         "images": result["images"]}, indent=1
    ) + "\n")
    for name, items in result["worst"].items():
        folder = out_dir / "overlays" / _safe(name)
        folder.mkdir(parents=True, exist_ok=True)
        for rank, item in enumerate(items):
            path = folder / f"{rank:02d}_{_safe(item['name'])}.png"
            picture = overlay_picture(item, labels=labels)
            ok, png = cv2.imencode(".png", cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))
            if not ok:
                raise EvaluationError(f"could not encode {path} as PNG")
            atomic_write_bytes(path, png)
            paths["overlays"].append(path)
    return paths


def click_tables(result: Mapping, labels: Mapping[str, str] = MODEL_LABELS) -> str:
    """run_click_benchmark's result as one Markdown table per set (and the mean over sets when
    there are several): NoC in clicks, mIoU / mBIoU after n clicks in percent."""
    rows = {labels[out]: result["results"][out] for out in labels if result["results"].get(out)}
    if not rows:
        return ""
    sets = list(next(iter(rows.values())))
    keys = [k for k in next(iter(rows.values()))[sets[0]] if k != "count"]
    header = ["| model | " + " | ".join(keys) + " |", "|---|" + "---:|" * len(keys)]

    def line(label: str, r: Mapping) -> str:
        cells = [f"{r[k]:.2f}" if k.startswith("NoC") else f"{100 * r[k]:.2f}" for k in keys]
        return f"| {label} | " + " | ".join(cells) + " |"

    protocol = result.get("protocol") or {}
    note = f"up to {protocol.get('max', '?')} clicks; mIoU / mBIoU in percent after n clicks"
    lines = []
    for name in sets:
        count = next(iter(rows.values()))[name]["count"]
        lines += [f"### {name} (clicks)", "", f"{count} images, {note}", "", *header]
        lines += [line(label, results[name]) for label, results in rows.items()]
        lines.append("")
    if len(sets) > 1:
        lines += [f"### Mean over {len(sets)} sets (clicks)", "", "(the mean of the per-set means)",
                  "", *header]
        for label, results in rows.items():
            mean = {k: sum(results[s][k] for s in sets) / len(sets) for k in keys}
            lines.append(line(label, mean))
        lines.append("")
    return "\n".join(lines)


def write_click_report(result: Mapping, out_dir: str | Path, *, settings: Mapping | None = None,
                       labels: Mapping[str, str] = MODEL_LABELS) -> dict[str, Path]:
    """Write clicks.md and click_scores.json of ``run_click_benchmark``'s result."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"click_table": out_dir / "clicks.md", "click_scores": out_dir / "click_scores.json"}
    table = click_tables(result, labels)
    atomic_write_text(paths["click_table"], f"## SAM vs SAM-HQ, click-based\n\n{table}")
    atomic_write_text(paths["click_scores"], json.dumps(
        {"settings": dict(settings or {}), "protocol": result.get("protocol", {}),
         "results": result["results"], "images": result["images"]}, indent=1
    ) + "\n")
    return paths
