"""The concept path as three ONNX graphs that torch.onnx traces (inference/onnx_concept_export.py
writes and checks them), split where ConceptPredictor reuses work:

- the image encoder (once per image): Sam3OnnxEncoder's outputs, which the SAM 3 prompt decoder
  takes by name, plus the detector neck's levels from the same ViT pass (`detector_level_<i>`,
  finest first). The detector needs the ViT's map, which the interactive features do not hold,
  so this graph replaces the plain encoder rather than adding a second ViT pass;
- the text encoder (once per text, whatever the image): token_ids B x L int64 -> text_features
  B x L x d, text_padding B x L bool (True = padding);
- the detector (once per image and prompt): the levels, one text's features and padding, and
  K >= 0 exemplar boxes -> scores, boxes and mask logits of every query.

Each kept box is then refined by the SAM 3 prompt decoder graph (model/sam3/onnx.py)."""

import torch
from torch import nn

from ..onnx import Sam3OnnxEncoder
from .detector import ConceptDetector

TEXT_INPUTS = ("token_ids",)
TEXT_OUTPUTS = ("text_features", "text_padding")
EXEMPLAR_INPUTS = ("exemplar_boxes", "exemplar_labels")
DETECTOR_OUTPUTS = ("scores", "boxes", "mask_logits")


def level_names(detector: ConceptDetector) -> tuple[str, ...]:
    return tuple(f"detector_level_{i}" for i in range(detector.levels))


class ConceptOnnxEncoder(Sam3OnnxEncoder):
    """image B x 3 x S x S float32 RGB 0-255 (resized) -> the interactive features, then the
    detector levels B x d x 4g x 4g, 2g, g (g = S / 14), float32; fp32 only."""

    def __init__(self, model, detector: ConceptDetector) -> None:
        super().__init__(model)
        self.detector = detector

    @property
    def output_names(self) -> tuple[str, ...]:
        return (*super().output_names, *level_names(self.detector))

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """What ConceptPredictor.set_image computes: one trunk pass, both necks."""
        model = self.model
        x = model.preprocess(image)
        trunk = model.image_encoder.trunk
        if model.early_fusion:
            trunk_map, early = trunk(x, model.early_block)
        else:
            trunk_map, early = trunk(x), None
        features = model.features_from_neck(model.image_encoder.neck(trunk_map), early).tensors()
        levels = self.detector.encode_image(trunk_map).levels
        return (*(features[name] for name in model.features_type.field_names()), *levels)


class ConceptOnnxText(nn.Module):
    """token_ids B x L (ClipTokenizer.token_array) -> text_features, text_padding."""

    def __init__(self, detector: ConceptDetector) -> None:
        super().__init__()
        self.text = detector.backbone.language_backbone

    def forward(self, token_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        text = self.text(token_ids)
        return text.features, text.padding_mask


class ConceptOnnxDetector(nn.Module):
    """One image, one prompt. Inputs: the encoder's detector levels (1 x d x ...), text_features
    1 x L x d and text_padding 1 x L (the text graph's, one row), exemplar_boxes 1 x K x 4 (x0,
    y0, x1, y1 divided by the image's width / height) and exemplar_labels 1 x K int64 (1 an
    example, 0 a counter-example; K = 0 for a text-only prompt). Outputs for the Q queries:
    scores 1 x Q (sigmoid(logit) * sigmoid(presence)), boxes 1 x Q x 4 (x0, y0, x1, y1 in
    [0, 1]), mask_logits 1 x Q x 4g x 4g."""

    def __init__(self, detector: ConceptDetector) -> None:
        super().__init__()
        self.detector = detector

    @property
    def input_names(self) -> tuple[str, ...]:
        return (*level_names(self.detector), *TEXT_OUTPUTS, *EXEMPLAR_INPUTS)

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        n = self.detector.levels
        levels = list(inputs[:n])
        text_features, text_padding, boxes, labels = inputs[n:]
        low, high = boxes[..., :2], boxes[..., 2:]
        cxcywh = torch.cat(((low + high) / 2, high - low), dim=-1)  # as ConceptPredictor's
        found = self.detector.detect(
            self.detector.image_of_levels(levels), text_features, text_padding, (cxcywh, labels)
        )
        scores = found.logits.sigmoid() * found.presence_logit.sigmoid()[:, None]
        return scores, found.boxes_xyxy, found.mask_logits

    def example_exemplars(self, count: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """count random boxes inside the image (normalised x0 y0 x1 y1) with labels 1, 0, 1..."""
        gen = torch.Generator().manual_seed(seed)
        corner = torch.rand(1, count, 2, generator=gen) * 0.6
        size = 0.05 + torch.rand(1, count, 2, generator=gen) * 0.35
        labels = (torch.arange(count) % 2 == 0).long()[None]
        return torch.cat((corner, corner + size), -1), labels
