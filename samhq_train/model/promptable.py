"""What every model family shares: encode once, decode B images x P prompts, and the one rule
for how many prompts per image a call carries."""

import torch
from torch import nn


class PromptableModel(nn.Module):
    """Base of the family models. Subclasses define `family`, `features_type`,
    `processing_type`, `image_size`, `mask_input_size`,
    `encode(images, content_sizes=None) -> features_type` (content_sizes: processing.zero_padding)
    and the prompt side: `prompt_parts`, `embed_prompts` and `image_inputs`; decode and
    decode_embedded are the same for every family."""

    family: str
    features_type: (
        type  # the ImageFeatures record encode returns (cached features are rebuilt as it)
    )
    # the family's input rule (processing.InputProcessing subclass, also its record's `processing`)
    processing_type: type
    mask_threshold: float = 0.0
    # why the HQ parts are untrained (formats.UntrainedHQ), set by load_checkpoint; None: trained
    # or not loaded from a file (the inference commands then decode as plain SAM, with a note)
    untrained_hq = None

    def register_pixel_stats(self, pixel_mean, pixel_std) -> None:
        """The input normalisation (per RGB channel, 0-255) as 3 x 1 x 1 buffers, not saved."""
        for name, values in (("pixel_mean", pixel_mean), ("pixel_std", pixel_std)):
            self.register_buffer(name, torch.tensor(values).view(-1, 1, 1), persistent=False)

    @property
    def processing(self):
        """The family's input rule at this model's input size."""
        return self.processing_type(self.image_size)

    def preprocess(self, images: torch.Tensor, content_sizes=None) -> torch.Tensor:
        """Resized B x 3 x h x w RGB 0-255 -> the normalised B x 3 x S x S model input."""
        return self.processing.model_input(images, self.pixel_mean, self.pixel_std, content_sizes)

    def postprocess_masks(self, masks: torch.Tensor, input_size, original_size) -> torch.Tensor:
        """Low-res logits ... x S/4 x S/4 -> logits ... x H x W (processing.postprocess_masks)."""
        return self.processing.postprocess_masks(masks, input_size, original_size)

    def forward(self, images: torch.Tensor, **prompts) -> tuple[torch.Tensor, torch.Tensor]:
        """encode + decode (prompts: decode's keyword arguments); see those for shapes."""
        return self.decode(self.encode(images), **prompts)

    def decode(
        self,
        features,
        *,
        points: tuple[torch.Tensor, torch.Tensor] | None = None,
        boxes: torch.Tensor | None = None,
        mask_inputs: torch.Tensor | None = None,
        multimask_output: bool = False,
        hq_token_only: bool = False,
        use_hq: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Decode P prompts on each of B images (features: encode's, of B images).

        points: (coords B x P x N x 2 as (x, y) in input pixels of the S x S model input, labels
        B x P x N with 1 = positive, 0 = negative, -1 = padding); boxes: B x P x 4 (x0, y0, x1,
        y1); mask_inputs: B x P x 1 x S/4 x S/4 logits. Returns low-res logits
        B x P x M x S/4 x S/4 and IoU predictions B x P x M_iou, M and M_iou as the family's
        mask decoder gives them (its forward says which). use_hq=False is the family's plain SAM
        (the HQ token is left out of attention); with use_hq the masks are SAM + HQ, or the HQ
        mask alone with hq_token_only.
        """
        b = features.batch_size
        per_image = prompts_per_image(b, points, boxes, mask_inputs)
        sparse, dense = self.embed_prompts(
            points=None if points is None else (points[0].flatten(0, 1), points[1].flatten(0, 1)),
            boxes=None if boxes is None else boxes.flatten(0, 1),
            masks=None if mask_inputs is None else mask_inputs.flatten(0, 1),
            count=b * per_image,
        )
        masks, iou = self.decode_embedded(
            features,
            sparse,
            dense,
            multimask_output=multimask_output,
            hq_token_only=hq_token_only,
            use_hq=use_hq,
        )
        return masks.unflatten(0, (b, per_image)), iou.unflatten(0, (b, per_image))

    def decode_embedded(
        self,
        features,
        sparse: torch.Tensor,
        dense: torch.Tensor,
        *,
        multimask_output: bool = False,
        hq_token_only: bool = False,
        use_hq: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The mask decoder on already-embedded prompts: sparse (B*P) x K x C, dense
        (B*P) x C x h x w (prompts of one image contiguous) -> low-res logits
        (B*P) x M x 4h x 4w, IoU (B*P) x M_iou."""
        prompt_encoder, mask_decoder = self.prompt_parts
        per_image = sparse.shape[0] // features.batch_size
        masks, iou = mask_decoder(
            **self.image_inputs(features, per_image, use_hq),
            image_pe=prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=multimask_output,
            hq_token_only=hq_token_only,
            use_hq=use_hq,
        )[:2]
        return masks, iou

    @property
    def prompt_parts(self) -> tuple[nn.Module, nn.Module]:
        """(prompt encoder, mask decoder): the family's parts under its official names."""
        raise NotImplementedError

    def embed_prompts(
        self,
        *,
        points: tuple[torch.Tensor, torch.Tensor] | None,
        boxes: torch.Tensor | None,
        masks: torch.Tensor | None,
        count: int,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The prompt encoder on `count` prompts (B*P, those of one image contiguous): points
        (coords count x N x 2, labels count x N), boxes count x 4, masks count x 1 x S/4 x S/4
        -> sparse count x K x C and dense count x C x h x w embeddings."""
        raise NotImplementedError

    def image_inputs(self, features, per_image: int, use_hq: bool) -> dict[str, torch.Tensor]:
        """The mask decoder's image arguments for B*P prompts, per_image = P on each image."""
        raise NotImplementedError


def prompts_per_image(batch: int, points, boxes, mask_inputs) -> int:
    """P of prompts given as B x P x ...; one line naming the shapes when they disagree."""
    counts = {}
    if points is not None:
        counts["points"] = tuple(points[0].shape[:2])
        if points[1].shape != points[0].shape[:3]:
            raise ValueError(
                f"point labels of shape {tuple(points[1].shape)} do not match point coords of "
                "shape "
                f"{tuple(points[0].shape)}: expected coords B x P x N x 2 and labels B x P x N"
            )
    if boxes is not None:
        counts["boxes"] = tuple(boxes.shape[:2])
        if boxes.shape[-1] != 4 or boxes.dim() != 3:
            raise ValueError(f"boxes of shape {tuple(boxes.shape)}: expected B x P x 4")
    if mask_inputs is not None:
        counts["mask_inputs"] = tuple(mask_inputs.shape[:2])
    if not counts:
        return 1
    shapes = set(counts.values())
    if len(shapes) > 1 or next(iter(shapes))[0] != batch:
        raise ValueError(
            f"prompts must all be B x P x ... with B = {batch} images; got "
            + ", ".join(f"{k} {v}" for k, v in counts.items())
        )
    return next(iter(shapes))[1]
