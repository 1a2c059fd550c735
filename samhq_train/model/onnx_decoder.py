"""The ONNX prompt decoder shared by the families: prompt encoder + HQ mask decoder + upsampling to
the original size, in a form torch.onnx traces. Each family folder's onnx.py subclasses it with
its image features and its point padding; inference/export.py writes and checks the graph.

One image, one prompt of N points (N dynamic). As in SAM's ONNX export, a box is two points with
labels 2 (top-left) and 3 (bottom-right). Coordinates are in the S x S model frame (scale them
like the predictor: model.processing.scale_coords). Inputs: the image features' tensors (the
family's `feature_inputs`), then
  point_coords 1 x N x 2, point_labels 1 x N, mask_input 1 x 1 x L x L,
  has_mask_input 1 (1.0 uses mask_input), orig_im_size 2 (H, W as float)
-> masks 1 x M x H x W logits, iou_predictions 1 x M_iou, low_res_masks 1 x M x L x L
(L: the model's mask_input_size, S/4 but for SAM 3: 288 at S = 1008)
(M, M_iou: 1 each, or as the model's decode gives them with multimask_output / hq_token_only).
"""

import torch
from torch import nn

from .promptable import PromptableModel

# after the family's image features (OnnxPromptDecoder.feature_inputs)
ONNX_PROMPT_INPUTS = (
    "point_coords",
    "point_labels",
    "mask_input",
    "has_mask_input",
    "orig_im_size",
)
ONNX_OUTPUTS = ("masks", "iou_predictions", "low_res_masks")


class OnnxPromptDecoder(nn.Module):
    """Subclasses set `feature_inputs` and define prompt_encoder, embed_points, example_features."""

    # the features' fields -> their ONNX input names, in field order
    feature_inputs: dict[str, str]

    def __init__(
        self, model: PromptableModel, *, hq_token_only: bool = False, multimask_output: bool = False
    ):
        super().__init__()
        self.model = model
        self.hq_token_only = hq_token_only
        self.multimask_output = multimask_output

    @property
    def input_names(self) -> tuple[str, ...]:
        return (*self.feature_inputs.values(), *ONNX_PROMPT_INPUTS)

    @property
    def prompt_encoder(self) -> nn.Module:
        raise NotImplementedError

    def embed_points(self, coords: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def example_features(self, gen: torch.Generator) -> tuple[torch.Tensor, ...]:
        """Random image features of the model's shapes, in field order."""
        raise NotImplementedError

    def forward(self, *inputs):
        """inputs: the image features' tensors (in field order), then point_coords,
        point_labels, mask_input, has_mask_input, orig_im_size."""
        n = len(self.feature_inputs)
        features = self.model.features_type.from_tensors(dict(zip(self.feature_inputs, inputs[:n])))
        point_coords, point_labels, mask_input, has_mask_input, orig_im_size = inputs[n:]
        encoder = self.prompt_encoder
        sparse = self.embed_points(point_coords, point_labels)
        dense = has_mask_input * encoder.mask_downscaling(mask_input)
        dense = dense + (1 - has_mask_input) * encoder.no_mask_embed.weight.reshape(1, -1, 1, 1)
        low_res, iou = self.model.decode_embedded(
            features,
            sparse,
            dense,
            multimask_output=self.multimask_output,
            hq_token_only=self.hq_token_only,
        )
        masks = self.model.processing.postprocess_masks(low_res, None, orig_im_size)
        return masks, iou, low_res

    def example_inputs(
        self, n_points: int = 3, seed: int = 0, *, has_mask: bool = True
    ) -> tuple[torch.Tensor, ...]:
        """Random inputs of the right shapes and dtypes (float32), in input_names order."""
        gen = torch.Generator().manual_seed(seed)
        s, low = self.model.image_size, self.model.mask_input_size
        return (
            *self.example_features(gen),
            torch.rand(1, n_points, 2, generator=gen) * s,
            torch.randint(0, 2, (1, n_points), generator=gen).float(),
            torch.randn(1, 1, low, low, generator=gen),
            torch.tensor([float(has_mask)]),
            torch.tensor([s * 1.5, s * 0.75]),
        )
