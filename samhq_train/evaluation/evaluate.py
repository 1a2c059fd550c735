"""The shared evaluation step: validation during training and the benchmark runner use this code,
so their numbers cannot disagree.

- the model on a batch (image features, one decode per prompt kind) is samhq_train.batch_forward,
  which training's forward pass uses too.
- `predict_batch` encodes the images once (or takes their features) and returns, per image, logits at the ORIGINAL GT size
  for the HQ output and optionally the SAM baseline (the frozen decoder without the HQ token)
  from the same image embedding.
- `DatasetMetrics` holds mIoU and mBIoU per dataset (never pooled across datasets), DDP-synced.

Resizing to the GT (official protocol): when the image fills the model frame (the benchmark
resize), the S/4 logits are upsampled bilinearly straight to the GT size, as the official
evaluation does (processing.resize_masks); otherwise they go through the family's input rule
(`model.processing.postprocess_masks`; SAM 1: upsample to S, crop the padding, resize).
"""

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn
from torchmetrics.aggregation import SumMetric

from samhq_train.batch_forward import decode_prompts, image_features
from samhq_train.constants import BOUNDARY_DILATION_RATIO, GT_THRESHOLD
from samhq_train.drawing import draw_overlay
from samhq_train.evaluation.baseline import parameters_set_to
from samhq_train.evaluation.iou_metrics import BoundaryIoU, MaskIoU
from samhq_train.model import ImageFeatures
from samhq_train.model.processing import resize_masks


def logits_at_original_size(
    model: nn.Module, low_res: torch.Tensor, input_size: Sequence[int], original_size: Sequence[int]
) -> torch.Tensor:
    """One image's low-res logits (1 x S/4 x S/4 or S/4 x S/4) -> H x W logits at the GT size."""
    low_res = low_res.reshape(1, 1, *low_res.shape[-2:]).float()
    size = (int(original_size[0]), int(original_size[1]))
    if tuple(input_size) == (model.image_size, model.image_size):
        out = resize_masks(low_res, size)
    else:
        out = model.processing.postprocess_masks(low_res, tuple(input_size), size)
    return out[0, 0]


@torch.no_grad()
def predict_batch(
    model: nn.Module,
    batch: dict,
    *,
    prompt: str | None = "box",
    hq_token_only: bool = True,
    sam_baseline: bool = False,
    features: ImageFeatures | None = None,
    base_state: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, list[torch.Tensor]]:
    """Run the model on a batch; per image, logits H_i x W_i at its original GT size.

    prompt: "box" (the GT box, the benchmark protocol), "point", "noise_mask", or None for each
    sample's batch["prompt_type"]. Returns {"hq": [...]} and, with sam_baseline, {"sam": [...]}
    (plain SAM from the same image embedding and prompts). features: precomputed image
    features (default: image_features, i.e. the batch's cached features or the encoder's).
    base_state: with sam_baseline, also {"sam_base": [...]}, plain SAM with these parameter
    values (baseline.base_decoder_state: the untouched decoder of a run that fine-tuned it).
    """
    if features is None:
        features = image_features(model, batch)
    types = None if prompt is None else [prompt] * features.batch_size
    outputs = {
        "hq": decode_prompts(model, features, batch, prompt_types=types, hq_token_only=hq_token_only)[0]
    }
    if sam_baseline:
        outputs["sam"] = decode_prompts(model, features, batch, prompt_types=types, use_hq=False)[0]
    if sam_baseline and base_state:
        with parameters_set_to(model, base_state):
            outputs["sam_base"] = decode_prompts(
                model, features, batch, prompt_types=types, use_hq=False
            )[0]
    return {
        name: [
            logits_at_original_size(model, m, inp, orig)
            for m, inp, orig in zip(low_res, batch["input_size"], batch["original_size"])
        ]
        for name, low_res in outputs.items()
    }


def mean_over_sets(results: Mapping[str, Mapping]) -> dict:
    """The mean of the per-set mIoU and mBIoU (never pooled across sets); total image count."""
    n = len(results)
    return {
        "mIoU": sum(r["mIoU"] for r in results.values()) / n,
        "mBIoU": sum(r["mBIoU"] for r in results.values()) / n,
        "count": sum(r["count"] for r in results.values()),
    }


class DatasetMetrics(nn.Module):
    """mIoU, mBIoU and the image count per dataset; update with each image's dataset name."""

    def __init__(self, names: Sequence[str], dilation_ratio: float = BOUNDARY_DILATION_RATIO) -> None:
        super().__init__()
        self.names = list(names)
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"dataset names must be unique, got {self.names}")
        # ModuleDict keys cannot hold dots: index by position, report by name
        self.sets = nn.ModuleDict(
            {
                f"set{i}": nn.ModuleDict(
                    {
                        "mIoU": MaskIoU(label=f"{name} mIoU"),
                        "mBIoU": BoundaryIoU(
                            dilation_ratio=dilation_ratio, label=f"{name} mBIoU"
                        ),
                        "count": SumMetric(),
                    }
                )
                for i, name in enumerate(self.names)
            }
        )

    def update(
        self, datasets: Sequence[str], logits: Sequence[torch.Tensor], gts: Sequence[torch.Tensor]
    ) -> tuple[list[float], list[float]]:
        """Add each image to its dataset; returns the (mask IoU, boundary IoU) of each image."""
        ious, bious = [], []
        for name, pred, gt in zip(datasets, logits, gts):
            if name not in self.names:
                raise KeyError(f"dataset {name!r} is not one of the evaluated sets {self.names}")
            metrics = self.sets[f"set{self.names.index(name)}"]
            gt = gt.to(pred.device)
            metrics["mIoU"].update(pred[None], gt[None])
            metrics["mBIoU"].update(pred[None], gt[None])
            metrics["count"].update(torch.tensor(1.0, device=pred.device))
            ious += metrics["mIoU"].last_scores
            bious += metrics["mBIoU"].last_scores
        return ious, bious

    def compute(self) -> dict[str, dict[str, float]]:
        """{dataset: {"mIoU", "mBIoU", "count"}} over all processes; sets without images are left out."""
        out = {}
        for i, name in enumerate(self.names):
            metrics = self.sets[f"set{i}"]
            count = int(metrics["count"].compute())
            if count:
                out[name] = {
                    "mIoU": float(metrics["mIoU"].compute()),
                    "mBIoU": float(metrics["mBIoU"].compute()),
                    "count": count,
                }
        return out

    def reset(self) -> None:
        for metrics in self.sets.values():
            for metric in metrics.values():
                metric.reset()


def overlay(image: torch.Tensor, logits: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """uint8 3 x H x W CPU picture for loggers: the image (3 x h x w RGB 0-255, resized to the GT
    size) with the predicted region (logits > 0) tinted and outlined in the palette's first
    colour and the GT boundary in blue, twice as thick (drawing.draw_overlay, the one overlay
    picture)."""
    image = image.detach().float().round().clamp(0, 255).permute(1, 2, 0).cpu().numpy()
    mask = (logits.detach() > 0).cpu().numpy()
    picture = draw_overlay(image.astype(np.uint8), [mask], gt.detach().cpu().numpy() > GT_THRESHOLD)
    return torch.from_numpy(picture).permute(2, 0, 1)
