"""The model on a batch of the data's batch contract (samhq_train.data.batch.Collate): training's
forward pass and the first half of the evaluation step (samhq_train.evaluation.evaluate).

- `image_features` gives a batch's image features: from the embedding cache when the batch
  carries them (batch["features"]), else from the encoder.
- `decode_prompts` decodes one prompt per sample of a batch, grouping the samples by prompt kind
  (kinds cannot share one decode call); `prompt_arguments` turns a kind's samples into
  SamHQ.decode's keyword arguments. Correction clicks and a previous round's logits (as the mask
  input) join each sample's first prompt (training/correction.py).
"""

from collections.abc import Sequence

import torch
from torch import nn

from samhq_train.data.prompts import PROMPT_TYPES
from samhq_train.model import ImageFeatures


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


def prompt_arguments(
    batch: dict,
    kind: str,
    index: torch.Tensor,
    clicks: tuple[torch.Tensor, torch.Tensor] | None = None,
    mask_logits: torch.Tensor | None = None,
) -> dict:
    """SamHQ.decode keyword arguments for the samples `index` of a batch, one prompt each
    (P = 1).

    clicks: (coords B x K x 2, labels B x K) added after the kind's points (label -1: padding);
    mask_logits: B x 1 x S/4 x S/4, the mask input (it replaces a noisy-mask prompt)."""
    if kind == "box":
        args = {"boxes": batch["boxes"][index, None]}
    elif kind == "point":
        args = {"points": (batch["points"][index, None], batch["point_labels"][index, None])}
    elif kind == "noise_mask":
        args = {"mask_inputs": batch["mask_input"][index, None]}
    else:
        raise ValueError(f"unknown prompt type {kind!r}; use one of {PROMPT_TYPES}")
    if clicks is not None:
        coords, labels = clicks[0][index, None], clicks[1][index, None]
        if "points" in args:
            coords = torch.cat([args["points"][0], coords.to(args["points"][0].dtype)], dim=2)
            labels = torch.cat([args["points"][1], labels.to(args["points"][1].dtype)], dim=2)
        args["points"] = (coords, labels)
    if mask_logits is not None:
        args["mask_inputs"] = mask_logits[index, None]
    return args


def decode_prompts(
    model: nn.Module,
    features: ImageFeatures,
    batch: dict,
    *,
    prompt_types: Sequence[str] | None = None,
    hq_token_only: bool = True,
    use_hq: bool = True,
    clicks: tuple[torch.Tensor, torch.Tensor] | None = None,
    mask_logits: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Low-res logits B x 1 x S/4 x S/4 and IoU predictions B x 1, one prompt per sample.

    prompt_types (default batch["prompt_type"]) gives each sample's kind; samples of one kind are
    decoded together, the results are put back in batch order. multimask_output is False (the
    training and benchmark protocol). clicks / mask_logits: see prompt_arguments.
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
            **prompt_arguments(batch, kind, index, clicks, mask_logits),
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
