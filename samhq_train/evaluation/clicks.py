"""Click-based evaluation: the standard interactive protocol, SAM (HQ off) and SAM-HQ side by side.

Per object: the first click at the interior of the object, each next one at the interior of the
largest error region of the current mask (positive where it misses, negative where it is wrong;
data/clicks.py has the rule and why), up to ``clicks.max`` (20). Every decode gets all clicks so
far and, after the first, the previous low-res logits as the mask input (as the predictors and
the app refine). Masks are scored at the GT's own size with the project's mask IoU and boundary
IoU (metrics.py), clicks are placed there too and scaled into the model frame as the predictor
scales point prompts (x * w / W, y * h / H). multimask_output is False (the benchmark protocol);
SAM-HQ is the HQ mask alone with ``hq_token_only`` (the benchmark's default).

Per set: NoC@k (the mean number of clicks until IoU >= k%, ``clicks.max`` when never reached) and
mIoU / mBIoU after n clicks. The images of a batch are decoded together (those still clicking);
the image features come from the encoder once per image, or from the embedding cache, and serve
both models and every click. An image stops once it is past every NoC target and every reported
click count, or when its mask equals the GT; its later scores stay those of its last mask.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from samhq_train.batch_forward import image_features
from samhq_train.constants import BOUNDARY_DILATION_RATIO, GT_THRESHOLD
from samhq_train.data import ClickProtocol, next_click
from samhq_train.evaluation.device import autocast, canonical_precision, resolve_device
from samhq_train.evaluation.errors import EvaluationError
from samhq_train.evaluation.evaluate import logits_at_original_size
from samhq_train.evaluation.metrics import boundary_iou, mask_iou
from samhq_train.model import ImageFeatures
from samhq_train.progress import Progress

OUTPUTS = {"sam": False, "hq": True}  # output name -> use_hq


@torch.no_grad()
def click_session(
    model: nn.Module,
    features: ImageFeatures,
    batch: dict,
    protocol: ClickProtocol,
    *,
    use_hq: bool = True,
    hq_token_only: bool = True,
    dilation_ratio: float = BOUNDARY_DILATION_RATIO,
) -> list[dict[str, list[float]]]:
    """Run the protocol on every image of a batch; per image {"iou": [...], "biou": [...]}, the
    scores after click 1, 2, ... up to where the image stopped (fractions)."""
    device = batch["boxes"].device
    gts = [(g > GT_THRESHOLD).to(device) for g in batch["gt_original"]]
    gts_np = [g.cpu().numpy() for g in gts]
    preds = [np.zeros_like(g) for g in gts_np]
    scale = [
        (w / orig[1], h / orig[0])
        for (h, w), orig in zip(batch["input_size"], batch["original_size"])
    ]
    size = len(gts)
    coords = torch.zeros(size, protocol.max, 2)
    labels = torch.zeros(size, protocol.max)
    previous: torch.Tensor | None = None  # B x 1 x S/4 x S/4 low-res logits of the last click
    scores = [{"iou": [], "biou": []} for _ in range(size)]
    stop_iou = max(protocol.noc_ious) / 100.0
    active = list(range(size))
    for n in range(protocol.max):
        clicking = []
        for i in active:
            click = next_click(gts_np[i], preds[i])
            if click is None:  # the mask is the GT: nothing left to click
                continue
            coords[i, n] = torch.tensor((click.x * scale[i][0], click.y * scale[i][1]))
            labels[i, n] = float(click.positive)
            clicking.append(i)
        if not clicking:
            break
        index = torch.tensor(clicking, device=device)
        low_res, _ = model.decode(
            features.select(index),
            points=(
                coords[clicking, None, : n + 1].to(device),
                labels[clicking, None, : n + 1].to(device),
            ),
            mask_inputs=None if previous is None else previous[index, None],
            multimask_output=False,
            hq_token_only=hq_token_only,
            use_hq=use_hq,
        )
        low_res = low_res[:, 0]
        if previous is None:
            previous = low_res.new_zeros(size, *low_res.shape[1:])
        previous[index] = low_res
        active = []
        for j, i in enumerate(clicking):
            logits = logits_at_original_size(
                model, low_res[j], batch["input_size"][i], batch["original_size"][i]
            )
            pred = logits > 0
            iou = float(mask_iou(pred[None], gts[i][None])[0])
            scores[i]["iou"].append(iou)
            scores[i]["biou"].append(
                float(boundary_iou(pred[None], gts[i][None], dilation_ratio)[0])
            )
            preds[i] = pred.cpu().numpy()
            if not (n + 1 >= max(protocol.report_after) and iou >= stop_iou):
                active.append(i)
        if not active:
            break
    return scores


def clicks_to_reach(ious: Sequence[float], target: float, max_clicks: int) -> int:
    """NoC of one object: the first click count whose IoU >= target (a fraction); max_clicks when
    none reaches it."""
    for n, iou in enumerate(ious, start=1):
        if iou >= target:
            return n
    return max_clicks


def score_after(values: Sequence[float], clicks: int) -> float:
    """The score after `clicks` clicks; an image that stopped earlier keeps its last mask's."""
    return values[min(clicks, len(values)) - 1]


def summarize(per_image: Sequence[Mapping], protocol: ClickProtocol) -> dict:
    """{"NoC@85": ..., "mIoU@1": ..., "mBIoU@1": ..., "count"} over images (click_session's
    scores); NoC in clicks, IoUs as fractions."""
    out: dict = {}
    for target in protocol.noc_ious:
        out[f"NoC@{target:g}"] = float(
            np.mean([clicks_to_reach(s["iou"], target / 100.0, protocol.max) for s in per_image])
        )
    for metric, key in (("mIoU", "iou"), ("mBIoU", "biou")):
        for n in protocol.report_after:
            out[f"{metric}@{n}"] = float(np.mean([score_after(s[key], n) for s in per_image]))
    out["count"] = len(per_image)
    return out


@torch.no_grad()
def run_click_benchmark(
    model: nn.Module,
    loaders: Sequence[tuple[str, Iterable[dict]]],
    protocol: ClickProtocol,
    *,
    sam_baseline: bool = True,
    hq_token_only: bool = True,
    device: str | torch.device = "cpu",
    precision: str = "32",
    dilation_ratio: float = BOUNDARY_DILATION_RATIO,
    progress: bool = True,
) -> dict:
    """The click protocol on each (set name, batches) pair (the batch contract, as
    run_benchmark's). Returns ``{"results": {"sam"|"hq": {set: summarize(...)}}, "images":
    [{"dataset", "name", "sam"|"hq": {"iou": [...], "biou": [...]}}], "protocol": {...}}``.

    Raises EvaluationError for a set without any image."""
    device = resolve_device(device)
    precision = canonical_precision(precision)
    model = model.to(device).eval()
    outputs = [o for o in OUTPUTS if sam_baseline or o == "hq"]
    results: dict[str, dict] = {out: {} for out in outputs}
    images: list[dict] = []
    for name, loader in loaders:
        per_set: dict[str, list] = {out: [] for out in outputs}
        total = len(loader.dataset) if hasattr(loader, "dataset") else None
        bar = Progress(total, f"evaluate {name} (clicks)", enabled=progress)
        for batch in loader:
            batch = {
                k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()
            }
            with autocast(device, precision):
                features = image_features(model, batch)  # once: both models, every click
                sessions = {
                    out: click_session(
                        model,
                        features,
                        batch,
                        protocol,
                        use_hq=OUTPUTS[out],
                        hq_token_only=hq_token_only,
                        dilation_ratio=dilation_ratio,
                    )
                    for out in outputs
                }
            for i, image_name in enumerate(batch["name"]):
                images.append(
                    {
                        "dataset": batch["dataset"][i],
                        "name": image_name,
                        **{out: sessions[out][i] for out in outputs},
                    }
                )
                for out in outputs:
                    per_set[out].append(sessions[out][i])
            bar.update(len(batch["name"]))
        bar.close()
        if not per_set["hq"]:
            raise EvaluationError(f"set {name}: no image could be evaluated with clicks")
        for out in outputs:
            results[out][name] = summarize(per_set[out], protocol)
    return {"results": results, "images": images, "protocol": protocol.to_dict()}


__all__ = ["click_session", "clicks_to_reach", "run_click_benchmark", "score_after", "summarize"]
