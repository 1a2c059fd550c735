"""The shared evaluation step: validation during training and the benchmark runner use this code,
so their numbers cannot disagree.

- `decode_prompts` decodes one prompt per sample of a batch (batch contract), grouping the samples
  by prompt kind (kinds cannot share one decode call); training uses it too.
- `image_features` gives a batch's image features: from the embedding cache when the batch
  carries them (batch["features"]), else from the encoder.
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

from samhq_train.constants import BOUNDARY_DILATION_RATIO, GT_THRESHOLD
from samhq_train.data.prompts import PROMPT_TYPES
from samhq_train.evaluation.metrics import BoundaryIoU, MaskIoU
from samhq_train.imaging import draw_overlay
from samhq_train.model import ImageFeatures
from samhq_train.model.processing import resize_masks


def image_features(model: nn.Module, batch: dict, *, grad: bool = False) -> ImageFeatures:
    """The batch's image features: those the embedding cache put in batch["features"] (moved to
    the model's device and dtype), else model.encode of batch["image"] (its normalised padding
    zeroed where batch["content_size"] says so), with autograd iff grad."""
    if "features" in batch:
        param = next(model.parameters())
        cached = model.features_type.from_tensors(batch["features"])
        return cached.to(device=param.device, dtype=param.dtype)
    with torch.set_grad_enabled(grad):
        return model.encode(batch["image"], batch.get("content_size"))


def prompt_arguments(batch: dict, kind: str, index: torch.Tensor) -> dict:
    """SamHQ.decode keyword arguments for the samples `index` of a batch, one prompt each (P = 1)."""
    if kind == "box":
        return {"boxes": batch["boxes"][index, None]}
    if kind == "point":
        return {"points": (batch["points"][index, None], batch["point_labels"][index, None])}
    if kind == "noise_mask":
        return {"mask_inputs": batch["mask_input"][index, None]}
    raise ValueError(f"unknown prompt type {kind!r}; use one of {PROMPT_TYPES}")


def decode_prompts(
    model: nn.Module,
    features: ImageFeatures,
    batch: dict,
    *,
    prompt_types: Sequence[str] | None = None,
    hq_token_only: bool = True,
    use_hq: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Low-res logits B x 1 x S/4 x S/4 and IoU predictions B x 1, one prompt per sample.

    prompt_types (default batch["prompt_type"]) gives each sample's kind; samples of one kind are
    decoded together, the results are put back in batch order. multimask_output is False (the
    training and benchmark protocol).
    """
    types = list(batch["prompt_type"] if prompt_types is None else prompt_types)
    if len(types) != features.batch_size:
        raise ValueError(f"{len(types)} prompt types for a batch of {features.batch_size} images")
    device = batch["boxes"].device
    order, masks, ious = [], [], []
    for kind in dict.fromkeys(types):  # kinds in order of first appearance
        index = torch.tensor([i for i, t in enumerate(types) if t == kind], device=device)
        low_res, iou = model.decode(
            features.select(index),
            **prompt_arguments(batch, kind, index),
            multimask_output=False,
            hq_token_only=hq_token_only,
            use_hq=use_hq,
        )
        order.append(index)
        masks.append(low_res[:, 0])
        ious.append(iou[:, 0])
    inverse = torch.empty(len(types), dtype=torch.long, device=device)
    inverse[torch.cat(order)] = torch.arange(len(types), device=device)
    return torch.cat(masks)[inverse], torch.cat(ious)[inverse]


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
) -> dict[str, list[torch.Tensor]]:
    """Run the model on a batch; per image, logits H_i x W_i at its original GT size.

    prompt: "box" (the GT box, the benchmark protocol), "point", "noise_mask", or None for each
    sample's batch["prompt_type"]. Returns {"hq": [...]} and, with sam_baseline, {"sam": [...]}
    (plain SAM from the same image embedding and prompts). features: precomputed image
    features (default: image_features, i.e. the batch's cached features or the encoder's).
    """
    if features is None:
        features = image_features(model, batch)
    types = None if prompt is None else [prompt] * features.batch_size
    outputs = {
        "hq": decode_prompts(model, features, batch, prompt_types=types, hq_token_only=hq_token_only)[0]
    }
    if sam_baseline:
        outputs["sam"] = decode_prompts(model, features, batch, prompt_types=types, use_hq=False)[0]
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
                        "mIoU": MaskIoU(),
                        "mBIoU": BoundaryIoU(dilation_ratio=dilation_ratio),
                        "count": SumMetric(),
                    }
                )
                for i in range(len(self.names))
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
    size) with the predicted region (logits > 0) tinted, the GT boundary in green and the
    predicted boundary in red (imaging.draw_overlay, the one overlay picture)."""
    image = image.detach().float().round().clamp(0, 255).permute(1, 2, 0).cpu().numpy()
    mask = (logits.detach() > 0).cpu().numpy()
    picture = draw_overlay(image.astype(np.uint8), [mask], gt.detach().cpu().numpy() > GT_THRESHOLD)
    return torch.from_numpy(picture).permute(2, 0, 1)
