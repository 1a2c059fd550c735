"""Correction-click training (``data.prompts.correction_clicks`` > 0; 0, the default, is the
official recipe and leaves the training step untouched).

After the first prompt (box, points or noisy mask, as the recipe draws it), each of k rounds adds
one click per sample and decodes again from the same image features (the encoder, or the
embedding cache, gave them once; the rounds re-run the prompt encoder and the decoder only):

- the click goes to the interior of the largest error region of the previous round's mask
  (positive in a missed region, negative in a false one): data/clicks.py's rule, the one the
  click evaluation uses (evaluation/clicks.py). Placing it there rather than drawing it from the
  error map trains exactly the inputs the model meets at evaluation and in the app, and is
  deterministic given the mask, so the only randomness a run adds is the feedback draw below.
  It is placed on the S x S GT (mask > 128) within the resized image (input_size), against the
  previous low-res logits upsampled to S, as the predictor upsamples them.
- with probability ``mask_feedback_prob`` (drawn once per round for the batch, from torch's
  global generator, which checkpoints restore), the previous round's low-res logits are the mask
  input (they replace a noisy-mask prompt); otherwise the first prompt's own mask input, if any.
- clicks and fed-back logits are detached: the placement is not differentiable, and each round is
  trained as the input -> mask problem it is at inference, where the previous logits are a given
  input; back-propagating through the chain would make the k rounds one recurrent net with k
  times the activation memory.

The loss is the mean of the per-round losses over the first prompt and every round: each round
is a training signal for another input (the first prompt keeps the official objective in the mix,
and with the logits detached a last-round-only loss would give the first prompt no gradient).
"""

from __future__ import annotations

import numpy as np
import torch

from samhq_train.batch_forward import decode_prompts
from samhq_train.data import MASK_THRESHOLD, next_click
from samhq_train.model import ImageFeatures
from samhq_train.model.processing import resize_masks

PADDING_LABEL = -1.0  # a sample whose mask is already exact gets a padding point (no prompt)


def error_clicks(logits: torch.Tensor, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """One click per sample from low-res logits B x 1 x S/4 x S/4 and the batch's S x S GT:
    (coords B x 1 x 2 as (x, y) model-frame pixels, labels B x 1: 1 positive, 0 negative, -1
    padding when the mask is exact), on the device of the logits."""
    size = batch["mask"].shape[-1]
    pred = (resize_masks(logits.detach()[:, 0].float(), (size, size)) > 0).cpu().numpy()
    gt = (batch["mask"][:, 0] > MASK_THRESHOLD).cpu().numpy()
    coords = np.zeros((len(pred), 1, 2), np.float32)
    labels = np.full((len(pred), 1), PADDING_LABEL, np.float32)
    for i, (h, w) in enumerate(batch["input_size"]):
        click = next_click(gt[i, :h, :w], pred[i, :h, :w])
        if click is not None:
            coords[i, 0] = (click.x, click.y)
            labels[i, 0] = float(click.positive)
    device = logits.device
    return torch.from_numpy(coords).to(device), torch.from_numpy(labels).to(device)


def correction_rounds(
    model: torch.nn.Module,
    features: ImageFeatures,
    batch: dict,
    first_logits: torch.Tensor,
    *,
    rounds: int,
    mask_feedback_prob: float,
    hq_token_only: bool = True,
) -> list[torch.Tensor]:
    """The low-res logits (B x 1 x S/4 x S/4) of each of `rounds` correction rounds after the first
    prompt's `first_logits` (see the module docstring)."""
    coords: list[torch.Tensor] = []
    labels: list[torch.Tensor] = []
    logits, out = first_logits, []
    for _ in range(rounds):
        c, lab = error_clicks(logits, batch)
        coords.append(c)
        labels.append(lab)
        feed = bool(torch.rand(()) < mask_feedback_prob)
        logits, _ = decode_prompts(
            model,
            features,
            batch,
            hq_token_only=hq_token_only,
            clicks=(torch.cat(coords, dim=1), torch.cat(labels, dim=1)),
            mask_logits=logits.detach() if feed else None,
        )
        out.append(logits)
    return out


def mean_losses(per_round: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """The mean over rounds of each entry of the loss's dicts."""
    return {k: torch.stack([d[k] for d in per_round]).mean() for k in per_round[0]}
