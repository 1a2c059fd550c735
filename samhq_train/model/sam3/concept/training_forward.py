"""The concept detector's training forward: what Meta's Sam3Image.forward_grounding returns for a
batch of queries (each a phrase, optionally with exemplar boxes, on one of several images), as the
outputs dict its loss reads.

In train mode (Sam3Image.training) the decoder runs DAC (the one-to-many query copies, when the
config's dac is on), every decoder layer's predictions are returned (the last layer's at the top,
the earlier ones in "aux_outputs") and each key has its "_o2m" twin for the copies; masks are the
last layer's only (Meta's aux_masks is off), for both halves (o2m_mask_predict). In eval mode the
dict is Meta's eval one: the last layer, no DAC, no aux_outputs.

Keys (B queries, Q learned queries, g the trunk grid): pred_logits B x Q x 1 (dot-product scores),
pred_boxes B x Q x 4 (cx, cy, w, h in [0, 1]), pred_boxes_xyxy B x Q x 4, presence_logit_dec B x 1,
pred_masks B x Q x 4g x 4g (logits), semantic_seg B x 1 x 4g x 4g, queries B x Q x d (the last
layer's one-to-one queries after the output norm); training adds pred_logits_o2m, pred_boxes_o2m,
pred_boxes_xyxy_o2m, pred_masks_o2m and aux_outputs (one dict per earlier layer with pred_logits,
pred_boxes, pred_boxes_xyxy, presence_logit_dec and their _o2m twins, first layer first).

Not Meta's (the loss helper's job): the Hungarian matching Sam3Image._compute_matching adds
("indices"). Activation checkpointing (Meta's in training; ConceptDetector.grad_checkpointing)
changes memory, not values."""

from typing import Any, NamedTuple

import torch
from torch import nn

from .decoder import DecoderOutput
from .geometry import ExemplarPrompt

PER_LAYER_KEYS = ("pred_logits", "pred_boxes", "pred_boxes_xyxy")


class Grounding(NamedTuple):
    """B prompts through the encoder and decoder: prompt B x P x d (text, then geometry tokens)
    and its padding B x P (True = padding); memory B x g*g x d (the fusion encoder's image
    tokens); decoded (every decoder layer's)."""

    prompt: torch.Tensor
    padding: torch.Tensor
    memory: torch.Tensor
    decoded: DecoderOutput


def check_batch(
    trunk_maps: torch.Tensor,
    image_index: torch.Tensor,
    token_ids: torch.Tensor,
    exemplars: ExemplarPrompt | None,
) -> None:
    """ValueError unless the shapes fit one another (N images, B queries)."""
    if trunk_maps.dim() != 4:
        raise ValueError(f"trunk_maps must be N x C x g x g, got {tuple(trunk_maps.shape)}")
    if image_index.dim() != 1 or image_index.dtype != torch.long:
        raise ValueError("image_index must be a 1-D int64 tensor (one image per query)")
    batch = image_index.shape[0]
    if token_ids.dim() != 2 or token_ids.shape[0] != batch:
        raise ValueError(f"token_ids must be B x L with B = {batch}, got {tuple(token_ids.shape)}")
    if batch and (image_index.min() < 0 or image_index.max() >= trunk_maps.shape[0]):
        raise ValueError(f"image_index must lie in [0, {trunk_maps.shape[0]})")
    if exemplars is not None and exemplars.boxes.shape[0] != batch:
        raise ValueError(f"exemplars must hold {batch} prompts, got {exemplars.boxes.shape[0]}")


def forward_train(
    detector: nn.Module,
    trunk_maps: torch.Tensor,
    image_index: torch.Tensor,
    token_ids: torch.Tensor,
    exemplars: ExemplarPrompt | None = None,
    *,
    text: tuple[torch.Tensor, torch.Tensor] | None = None,
    masks: bool = True,
) -> dict[str, Any]:
    """The outputs dict (see the module docstring) of B queries over N images; detector: a
    ConceptDetector (ConceptDetector.forward_train calls this).

    trunk_maps N x C x g x g: the ViT trunk's map of each image (gradients reach it when it
    requires grad); image_index B (int64): each query's image; token_ids B x L: each query's
    phrase as the tokenizer's ids (0 = padding); exemplars: B prompts' boxes (ExemplarPrompt,
    right-padded), or None for text only; text: the queries' encoded phrases (features B x L x d,
    padding B x L; a frozen text encoder's, kept per phrase by the caller), or None: token_ids are
    encoded here; masks false: no segmentation head (no pred_masks, pred_masks_o2m, semantic_seg;
    a box-only loss reads none of them, and the head draws no random numbers, so every other
    value is the same).

    Meta's inputs map as: find_input.img_ids = image_index, the encoded find_text_batch indexed
    by find_input.text_ids = token_ids (each distinct phrase is encoded once here too),
    input_boxes / input_boxes_mask / input_boxes_label = exemplars' boxes / box_padding /
    box_labels (sequence-first there)."""
    check_batch(trunk_maps, image_index, token_ids, exemplars)
    image = detector.encode_image(trunk_maps)
    if text is None:
        phrases, phrase_of_query = torch.unique(token_ids, dim=0, return_inverse=True)
        encoded = detector.backbone.language_backbone(phrases)
        text = encoded.features[phrase_of_query], encoded.padding_mask[phrase_of_query]
    batch = image_index.shape[0]
    if exemplars is None:
        exemplars = ExemplarPrompt.of(batch, device=trunk_maps.device)
    dac = detector.training and detector.cfg.dac
    grounded = detector.ground(
        image.levels[-1][image_index],
        image.positions[-1][image_index],
        *text,
        exemplars,
        dac=dac,
    )
    return outputs_of(detector, grounded, image.levels, image_index, dac, masks)


def outputs_of(
    detector: nn.Module,
    grounded: Grounding,
    levels: list[torch.Tensor],
    image_index: torch.Tensor,
    dac: bool,
    masks: bool = True,
) -> dict[str, Any]:
    """The heads on every decoder layer (Sam3Image._update_scores_and_boxes and
    _run_segmentation_heads): scores, boxes, presence, the last layer's masks (unless masks is
    false); split into the one-to-one half and, with DAC, the one-to-many half ("_o2m")."""
    hs = grounded.decoded.hs  # layers x B x (2)Q x d
    num_o2o = hs.shape[2] // 2 if dac else hs.shape[2]
    logits = detector.dot_prod_scoring(hs, grounded.prompt, grounded.padding)
    boxes, boxes_xyxy = detector.transformer.decoder.predict_boxes(
        hs, grounded.decoded.reference_boxes
    )
    layers: list[dict[str, Any]] = [{} for _ in range(hs.shape[0])]
    for key, per_layer in zip(PER_LAYER_KEYS, (logits, boxes, boxes_xyxy)):
        for out, value in zip(layers, per_layer):
            out[key] = value[:, :num_o2o]
            if dac:
                out[key + "_o2m"] = value[:, num_o2o:]
    for out, presence in zip(layers, grounded.decoded.presence_logits):
        out["presence_logit_dec"] = presence

    last = layers[-1]
    if masks:
        segmentation = detector.segmentation_head(
            levels, grounded.memory, hs[-1], grounded.prompt, grounded.padding, image_index
        )
        last["pred_masks"] = segmentation.masks[:, :num_o2o]
        if dac:
            last["pred_masks_o2m"] = segmentation.masks[:, num_o2o:]
        last["semantic_seg"] = segmentation.semantic
    last["queries"] = hs[-1][:, :num_o2o]
    if detector.training:
        last["aux_outputs"] = layers[:-1]
    return last
