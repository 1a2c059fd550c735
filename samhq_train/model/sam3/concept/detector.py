"""SAM 3's concept detector assembled: what Sam3Image.forward_grounding computes for a text prompt
and / or exemplar boxes on one image, from the ViT trunk's map that the interactive path shares.

The detector's own simple-FPN neck (`convs`, the sam2 neck's twin with other weights) gives three
levels and their sine position encodings; the text encoder and the geometry encoder give the
prompt tokens (text first, then exemplars and the CLS token); the fusion encoder lets the coarsest
level attend to them; the decoder's queries find boxes and a presence score; dot-product scoring
gives each query's logit, the segmentation head its mask at 4x the token grid. forward_train
(training_forward.py) runs the same parts for queries over several images, as Meta's train mode.

The module's state_dict keys are Meta's under `detector.` (minus the trunk and the sam2 neck,
which Sam3HQ computes). A loaded Sam3HQ carries these tensors (carried.py); concept_detector
builds the modules on them without copying (load_state_dict(assign=True))."""

from typing import Any, NamedTuple

import torch
from torch import nn

from ....constants import SAM3_DETECTOR_FILES
from ....errors import UserError
from ...sam2.image_encoder import sine_position_encoding
from ..image_encoder import simple_fpn_level
from .config import ConceptConfig
from .decoder import Decoder
from .fusion_encoder import FusionEncoder
from .geometry import ExemplarPrompt, GeometryEncoder
from .scoring import DotProductScoring
from .segmentation import SegmentationHead
from .text_encoder import TextEncoder
from .training_forward import Grounding, forward_train

PREFIX = "detector."
# the vision backbone's parts the interactive path computes (not the detector's)
INTERACTIVE_PREFIXES = (
    "detector.backbone.vision_backbone.trunk.",
    "detector.backbone.vision_backbone.sam2_convs.",
)


class DetectorImage(NamedTuple):
    """One image for the detector: its neck's levels (1 x d x 4g x 4g, 2g, g, finest first) and
    their sine position encodings."""

    levels: list[torch.Tensor]
    positions: list[torch.Tensor]


class Detections(NamedTuple):
    """The last decoder layer's answer for B prompts: logits B x Q (dot-product scores),
    presence_logit B, boxes B x Q x 4 (cx, cy, w, h in [0, 1]), boxes_xyxy B x Q x 4 (x0, y0,
    x1, y1 in [0, 1]), mask_logits B x Q x 4g x 4g."""

    logits: torch.Tensor
    presence_logit: torch.Tensor
    boxes: torch.Tensor
    boxes_xyxy: torch.Tensor
    mask_logits: torch.Tensor


class ConceptDetector(nn.Module):
    """forward / detect for inference, forward_train for training. Keys as Meta's detector.*
    (backbone.vision_backbone.convs, backbone.language_backbone, geometry_encoder,
    transformer.encoder / decoder, segmentation_head, dot_prod_scoring)."""

    def __init__(
        self, cfg: ConceptConfig, *, vit_dim: int, scale_factors: tuple[float, ...], scalp: int = 1
    ) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.backbone = nn.Module()
        self.backbone.vision_backbone = nn.Module()
        self.backbone.vision_backbone.convs = nn.ModuleList(
            simple_fpn_level(vit_dim, d, s) for s in scale_factors
        )
        self.backbone.language_backbone = TextEncoder(cfg.text)
        self.geometry_encoder = GeometryEncoder(cfg.geometry)
        self.transformer = nn.Module()
        self.transformer.encoder = FusionEncoder(cfg.encoder)
        self.transformer.decoder = Decoder(cfg.decoder)
        self.segmentation_head = SegmentationHead(cfg.segmentation)
        self.dot_prod_scoring = DotProductScoring(cfg.scoring)
        self.levels = len(scale_factors) - scalp

    @property
    def context_length(self) -> int:
        return self.cfg.context_length

    def recomputed_parts(self) -> tuple[nn.Module, ...]:
        """The parts that Meta's recipe checkpoints (recompute.py), each with its own switch."""
        return (
            self.backbone.language_backbone.encoder,
            self.geometry_encoder,
            self.transformer.encoder,
            self.transformer.decoder,
            self.segmentation_head,
        )

    @property
    def grad_checkpointing(self) -> bool:
        """Whether, in train mode, the text encoder's blocks, the geometry and fusion encoders'
        layers, the decoder's layers and the segmentation head recompute their activations in
        backward (less memory, a longer step; same values). The ViT trunk has its own switch
        (the model's image_encoder.grad_checkpointing)."""
        return all(part.grad_checkpointing for part in self.recomputed_parts())

    @grad_checkpointing.setter
    def grad_checkpointing(self, value: bool) -> None:
        for part in self.recomputed_parts():
            part.grad_checkpointing = bool(value)

    def encode_image(self, trunk_map: torch.Tensor) -> DetectorImage:
        """The detector neck on the ViT's 1 x C x g x g map (Sam3DualViTDetNeck's `convs` half,
        the coarsest level dropped as SAM3VLBackbone's scalp does)."""
        levels = [conv(trunk_map) for conv in self.backbone.vision_backbone.convs[: self.levels]]
        return self.image_of_levels(levels)

    def image_of_levels(self, levels: list[torch.Tensor]) -> DetectorImage:
        """The DetectorImage of neck levels computed elsewhere (the ONNX concept encoder's)."""
        positions = [sine_position_encoding(x, self.cfg.d_model).to(x.dtype) for x in levels]
        return DetectorImage(levels, positions)

    def forward(
        self,
        image: DetectorImage,
        token_ids: torch.Tensor,
        exemplars: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> Detections:
        """token_ids B x L (the tokenizer's, 0 = padding); exemplars: boxes B x K x 4 (cx, cy, w,
        h normalised) and labels B x K (1 example, 0 counter-example), or None (text only)."""
        text = self.backbone.language_backbone(token_ids)
        return self.detect(image, text.features, text.padding_mask, exemplars)

    def detect(
        self,
        image: DetectorImage,
        text_features: torch.Tensor,
        text_padding: torch.Tensor,
        exemplars: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> Detections:
        """forward's detection from encoded text (B x L x d features, B x L padding, True =
        padding): the text encoder's part depends on no image (the ONNX export splits here)."""
        batch = text_features.shape[0]
        coarse = image.levels[-1].expand(batch, -1, -1, -1)
        coarse_pos = image.positions[-1].expand(batch, -1, -1, -1)
        if exemplars is None:
            geometry = ExemplarPrompt.of(batch, device=coarse.device)
        else:
            boxes, labels = exemplars
            geometry = ExemplarPrompt.of(batch, boxes=boxes, box_labels=labels)
        grounded = self.ground(coarse, coarse_pos, text_features, text_padding, geometry)
        prompt, padding, decoded = grounded.prompt, grounded.padding, grounded.decoded
        hs = decoded.hs[-1:]
        logits = self.dot_prod_scoring(hs, prompt, padding)[0, ..., 0]
        boxes, boxes_xyxy = self.transformer.decoder.predict_boxes(
            hs[0], decoded.reference_boxes[-1]
        )
        image_ids = torch.zeros(batch, dtype=torch.long, device=coarse.device)
        masks = self.segmentation_head(
            image.levels, grounded.memory, hs[0], prompt, padding, image_ids
        ).masks
        return Detections(logits, decoded.presence_logits[-1, :, 0], boxes, boxes_xyxy, masks)

    def ground(
        self,
        coarse: torch.Tensor,
        coarse_pos: torch.Tensor,
        text_features: torch.Tensor,
        text_padding: torch.Tensor,
        geometry: ExemplarPrompt,
        *,
        dac: bool = False,
    ) -> Grounding:
        """The prompt (text, then the geometry encoder's tokens), the fusion encoder and the
        decoder for B prompts (Sam3Image._encode_prompt, _run_encoder, _run_decoder): coarse /
        coarse_pos B x d x g x g (each prompt's image's coarsest level and its position), text
        B x L x d with its padding B x L; dac as Decoder.forward's."""
        geo_tokens, geo_padding = self.geometry_encoder(geometry, coarse, coarse_pos)
        prompt = torch.cat((text_features, geo_tokens), dim=1)
        # Meta's prompt also concatenates an empty fp32 visual prompt: under autocast the
        # prompt (bf16 tokens) is promoted to fp32, which every consumer of it then reads
        prompt = prompt.to(torch.promote_types(prompt.dtype, torch.get_default_dtype()))
        padding = torch.cat((text_padding, geo_padding), dim=1)
        encoded = self.transformer.encoder(coarse, coarse_pos, prompt, padding)
        decoded = self.transformer.decoder(
            encoded.memory, encoded.pos_embed, encoded.spatial_shape, encoded.prompt, padding,
            dac=dac,
        )
        return Grounding(prompt, padding, encoded.memory, decoded)

    def forward_train(
        self,
        trunk_maps: torch.Tensor,
        image_index: torch.Tensor,
        token_ids: torch.Tensor,
        exemplars: ExemplarPrompt | None = None,
        *,
        text: tuple[torch.Tensor, torch.Tensor] | None = None,
        masks: bool = True,
    ) -> dict[str, Any]:
        """Meta's Sam3Image.forward_grounding outputs (train mode: DAC, aux_outputs, the _o2m
        copies) for B queries over N images; see training_forward.forward_train (text: the
        queries' encoded phrases, masks: whether the segmentation head runs)."""
        return forward_train(
            self, trunk_maps, image_index, token_ids, exemplars, text=text, masks=masks
        )


class NoDetectorError(UserError, ValueError):
    """A SAM 3 model loaded from a file without the concept detector's tensors."""


def concept_detector(model) -> ConceptDetector:
    """The detector of a loaded SAM 3 model, on the tensors it carries (shared, not copied).
    NoDetectorError for another family's model, when the file it was loaded from had no detector
    (an image-only export, the SAM 3 demo base) or when its shapes are not the variant's."""
    family = getattr(model, "family", type(model).__name__)
    if family != "sam3":
        raise NoDetectorError(
            f"this is a {family} model; text and exemplar prompts need a SAM 3 checkpoint with "
            f"its concept detector ({SAM3_DETECTOR_FILES})"
        )
    cfg = model.concept_config
    state = {
        key[len(PREFIX) :]: tensor
        for key, tensor in model.state_dict(keep_vars=True).items()
        if key.startswith(PREFIX) and not key.startswith(INTERACTIVE_PREFIXES)
    }
    if not any(k.startswith("transformer.decoder.") for k in state):
        raise NoDetectorError(
            "this SAM 3 model has no concept detector (its file holds only the interactive path): "
            f"text and exemplar prompts need {SAM3_DETECTOR_FILES}"
        )
    backbone = model.image_encoder
    detector = ConceptDetector(
        cfg,
        vit_dim=backbone.trunk.pos_embed.shape[-1],
        scale_factors=tuple(backbone.scale_factors),
    )
    own = detector.state_dict()
    wrong = sorted(set(own) ^ set(state))
    wrong += [k for k in own if k in state and own[k].shape != state[k].shape]
    if wrong:
        raise NoDetectorError(
            f"this SAM 3 model's detector tensors do not fit its variant's detector (first "
            f"mismatch: detector.{wrong[0]}); load the file with the variant it was made for"
        )
    detector.load_state_dict({k: v.detach() for k, v in state.items()}, assign=True)
    return detector.to(next(model.parameters()).device).eval()
