"""What every model family shares: encode once, decode B images x P prompts, and the one rule
for how many prompts per image a call carries."""

import torch
from torch import nn


class PromptableModel(nn.Module):
    """Base of the family models. Subclasses define `family`, `features_type`,
    `processing_type`, `image_size`, `mask_input_size`, the `pixel_mean` / `pixel_std` buffers,
    `encode(images, content_sizes=None) -> features_type` (content_sizes: processing.zero_padding)
    and `decode(features, ...)`."""

    family: str
    features_type: (
        type  # the ImageFeatures record encode returns (cached features are rebuilt as it)
    )
    # the family's input rule (processing.InputProcessing subclass, also its record's `processing`)
    processing_type: type
    mask_threshold: float = 0.0

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

    def forward(
        self,
        images: torch.Tensor,
        *,
        points: tuple[torch.Tensor, torch.Tensor] | None = None,
        boxes: torch.Tensor | None = None,
        mask_inputs: torch.Tensor | None = None,
        multimask_output: bool = False,
        hq_token_only: bool = False,
        use_hq: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """encode + decode; see those methods for shapes."""
        return self.decode(
            self.encode(images),
            points=points,
            boxes=boxes,
            mask_inputs=mask_inputs,
            multimask_output=multimask_output,
            hq_token_only=hq_token_only,
            use_hq=use_hq,
        )


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
