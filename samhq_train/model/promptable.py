"""What every model family shares: encode once, decode B images x P prompts, and the one rule
for how many prompts per image a call carries."""

import torch
from torch import nn


class PromptableModel(nn.Module):
    """Base of the family models. Subclasses define `family`, `features_type`, `input_resize`,
    `image_size`, `mask_input_size`, `encode(images, content_sizes=None) -> features_type`
    (content_sizes: zero_padding), `decode(features, ...)` and `postprocess_masks`."""

    family: str
    features_type: type  # the ImageFeatures record encode returns (cached features are rebuilt as it)
    input_resize: str  # how the official predictor brings an image to the input (imaging.INPUT_RULES)
    mask_threshold: float = 0.0

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


def zero_padding(images: torch.Tensor, content_sizes) -> torch.Tensor:
    """Normalised B x 3 x S x S images with each image's pixels outside its content (h_i, w_i)
    set to 0, the official predictor's padding; content_sizes None: unchanged."""
    if content_sizes is None:
        return images
    s_h, s_w = images.shape[-2:]
    cut = [(i, int(h), int(w)) for i, (h, w) in enumerate(content_sizes) if (h, w) != (s_h, s_w)]
    if cut:
        images = images.clone()
        for i, h, w in cut:
            images[i, :, h:] = 0
            images[i, :, :, w:] = 0
    return images


def prompts_per_image(batch: int, points, boxes, mask_inputs) -> int:
    """P of prompts given as B x P x ...; one line naming the shapes when they disagree."""
    counts = {}
    if points is not None:
        counts["points"] = tuple(points[0].shape[:2])
        if points[1].shape != points[0].shape[:3]:
            raise ValueError(
                f"point labels of shape {tuple(points[1].shape)} do not match point coords of shape "
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
