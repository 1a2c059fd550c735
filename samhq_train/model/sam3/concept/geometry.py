"""SAM 3's geometry (exemplar) encoder: Meta's geometry_encoders.SequenceGeometryEncoder as
model_builder._create_geometry_encoder builds it (keys detector.geometry_encoder.*).

Each point and each box becomes one token: the sum of a linear map of its coordinates, the image
features pooled at it (bilinear sample for a point, 7 x 7 ROI-align then a 7 x 7 conv for a box,
both from the layer-normed image map), a linear map of its sine position encoding, and the
embedding of its label (0 negative, 1 positive). Point tokens come first, then box tokens, then a
CLS token, each group right-packed per prompt; the sequence is projected and normed, refined by
pre-norm layers that attend to the image tokens, and normed again. With no point and no box (a
text-only prompt) the sequence is the CLS token alone, still refined against the image.

The layers' dropout acts in train mode only (encoder_layer.py); grad_checkpointing recomputes
each layer in backward in train mode (recompute.py); no mask encoder (the builder makes none)."""

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from .boxes import box_cxcywh_to_xyxy, sine_coordinates
from .encoder_layer import GEOMETRY_LAYER, EncoderLayer, EncoderLayerConfig
from .recompute import run_part


@dataclass(frozen=True)
class GeometryEncoderConfig:
    """Sizes of the geometry encoder; defaults are Meta's full-size values."""

    d_model: int = 256
    num_heads: int = 8
    dim_feedforward: int = 2048
    num_layers: int = 3
    roi_size: int = 7  # ROI-align output side, also the box-pool conv's kernel
    temperature: float = 10000.0  # of the coordinates' sine encoding
    dropout: float = 0.1  # each layer's (train mode only)

    def layer_config(self) -> EncoderLayerConfig:
        return replace(
            GEOMETRY_LAYER,
            d_model=self.d_model,
            num_heads=self.num_heads,
            dim_feedforward=self.dim_feedforward,
            dropout=self.dropout,
        )


def _right_padded(padding: torch.Tensor) -> bool:
    return bool((padding.long() == padding.long().sort(dim=-1).values).all())


def _no_padding(batch: int, length: int, device: torch.device) -> torch.Tensor:
    return torch.zeros(batch, length, dtype=torch.bool, device=device)


@dataclass
class ExemplarPrompt:
    """A batch of geometric prompts, batch-first, each group right-padded (True = padding).

    boxes B x Nb x 4 (cx, cy, w, h normalised to [0, 1] of the image), box_labels B x Nb,
    points B x Np x 2 (x, y normalised), point_labels B x Np; labels are 1 for a positive
    exemplar, 0 for a negative one. Nb or Np may be 0. `ExemplarPrompt.of` fills what is left out
    (no entries, positive labels, no padding), as Meta's Prompt does."""

    boxes: torch.Tensor
    box_labels: torch.Tensor
    box_padding: torch.Tensor
    points: torch.Tensor
    point_labels: torch.Tensor
    point_padding: torch.Tensor

    def __post_init__(self) -> None:
        batch = self.boxes.shape[0]
        for name, coords, labels, padding, width in (
            ("box", self.boxes, self.box_labels, self.box_padding, 4),
            ("point", self.points, self.point_labels, self.point_padding, 2),
        ):
            if coords.dim() != 3 or coords.shape[0] != batch or coords.shape[2] != width:
                shape = tuple(coords.shape)
                raise ValueError(f"{name} coordinates must be B x N x {width}, got {shape}")
            if labels.shape != coords.shape[:2] or padding.shape != coords.shape[:2]:
                raise ValueError(f"{name} labels and padding must be {tuple(coords.shape[:2])}")
            if padding.dtype != torch.bool or not _right_padded(padding):
                raise ValueError(f"{name} padding must be bool and right-padded (True = padding)")

    @classmethod
    def of(
        cls,
        batch: int,
        *,
        boxes: torch.Tensor | None = None,
        box_labels: torch.Tensor | None = None,
        box_padding: torch.Tensor | None = None,
        points: torch.Tensor | None = None,
        point_labels: torch.Tensor | None = None,
        point_padding: torch.Tensor | None = None,
        device: torch.device | str = "cpu",
    ) -> "ExemplarPrompt":
        """The prompt with defaults for what is None; `ExemplarPrompt.of(B)` is text-only."""
        if boxes is None:
            boxes = torch.zeros(batch, 0, 4, device=device)
        if points is None:
            points = torch.zeros(batch, 0, 2, device=device)
        if box_labels is None:
            box_labels = torch.ones(boxes.shape[:2], dtype=torch.long, device=boxes.device)
        if point_labels is None:
            point_labels = torch.ones(points.shape[:2], dtype=torch.long, device=points.device)
        if box_padding is None:
            box_padding = _no_padding(batch, boxes.shape[1], boxes.device)
        if point_padding is None:
            point_padding = _no_padding(batch, points.shape[1], points.device)
        return cls(boxes, box_labels, box_padding, points, point_labels, point_padding)


def concat_right_padded(
    seq1: torch.Tensor, pad1: torch.Tensor, seq2: torch.Tensor, pad2: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Two right-padded batches B x N1 x C and B x N2 x C (padding B x N, True = padding) joined
    per row: each row's valid entries of seq2 right after its valid entries of seq1, the result
    B x (N1 + N2) x C right-padded. The padded slots hold what Meta's concat_padded_sequences
    leaves there (seq1's padding or seq2's shifted padding, else zeros)."""
    batch, n1, channels = seq1.shape
    n2 = seq2.shape[1]
    len1 = (~pad1).sum(dim=1)
    total = len1 + (~pad2).sum(dim=1)
    out = seq2.new_zeros(batch, n1 + n2, channels)
    out[:, :n1] = seq1
    index = torch.arange(n2, device=seq2.device)[None] + len1[:, None]
    out = out.scatter(1, index[:, :, None].expand(-1, -1, channels), seq2)
    padding = torch.arange(n1 + n2, device=seq2.device)[None] >= total[:, None]
    return out, padding


class GeometryEncoder(nn.Module):
    """Exemplar boxes and points -> prompt tokens (see the module docstring)."""

    def __init__(self, cfg: GeometryEncoderConfig = GeometryEncoderConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.label_embed = nn.Embedding(2, d)
        self.cls_embed = nn.Embedding(1, d)
        self.points_direct_project = nn.Linear(2, d)
        self.points_pool_project = nn.Linear(d, d)
        self.points_pos_enc_project = nn.Linear(d, d)
        self.boxes_direct_project = nn.Linear(4, d)
        self.boxes_pool_project = nn.Conv2d(d, d, cfg.roi_size)
        self.boxes_pos_enc_project = nn.Linear(d + 2, d)  # + the box's h and w
        self.final_proj = nn.Linear(d, d)
        self.norm = nn.LayerNorm(d)
        self.img_pre_norm = nn.LayerNorm(d)
        layer_cfg = cfg.layer_config()
        self.encode = nn.ModuleList(EncoderLayer(layer_cfg) for _ in range(cfg.num_layers))
        self.grad_checkpointing = False  # train mode: recompute each `encode` layer in backward
        self.encode_norm = nn.LayerNorm(d)

    def _encode_points(
        self, points: torch.Tensor, labels: torch.Tensor, pool_map: torch.Tensor
    ) -> torch.Tensor:
        """points B x Np x 2 -> B x Np x d."""
        embed = self.points_direct_project(points)
        grid = points[:, :, None, :] * 2 - 1  # B x Np x 1 x 2 in grid_sample's [-1, 1]
        sampled = F.grid_sample(pool_map, grid, align_corners=False)  # B x d x Np x 1
        embed = embed + self.points_pool_project(sampled[..., 0].transpose(1, 2))
        half = self.cfg.d_model // 2
        x, y = points.unbind(-1)
        enc = torch.cat(  # x features first here (boxes put y first, as Meta does)
            (sine_coordinates(x, half, self.cfg.temperature),
             sine_coordinates(y, half, self.cfg.temperature)), dim=-1
        )
        embed = embed + self.points_pos_enc_project(enc)
        return self.label_embed(labels.long()) + embed

    def _encode_boxes(
        self, boxes: torch.Tensor, labels: torch.Tensor, pool_map: torch.Tensor
    ) -> torch.Tensor:
        """boxes B x Nb x 4 (cxcywh) -> B x Nb x d."""
        batch, n_boxes = boxes.shape[:2]
        embed = self.boxes_direct_project(boxes)
        height, width = pool_map.shape[-2:]
        scale = torch.tensor([width, height, width, height], dtype=boxes.dtype, device=boxes.device)
        xyxy = (box_cxcywh_to_xyxy(boxes) * scale).float()  # in feature-map cells
        from torchvision.ops import roi_align  # here: importing torchvision takes ~0.9 s

        pooled = roi_align(pool_map, list(xyxy.unbind(0)), self.cfg.roi_size)
        pooled = self.boxes_pool_project(pooled)[:, :, 0, 0]  # (B * Nb) x d
        # one prompt (the ONNX detector's): unsqueezed, not viewed, as ONNX's Reshape would read
        # Nb = 0 (a text-only prompt) as "keep the input's size"
        d = self.cfg.d_model
        embed = embed + (pooled[None] if batch == 1 else pooled.view(batch, n_boxes, d))
        half = self.cfg.d_model // 2
        cx, cy, w, h = boxes.unbind(-1)
        enc = torch.cat(
            (sine_coordinates(cy, half, self.cfg.temperature),
             sine_coordinates(cx, half, self.cfg.temperature), h[..., None], w[..., None]),
            dim=-1,
        )
        embed = embed + self.boxes_pos_enc_project(enc)
        return self.label_embed(labels.long()) + embed

    def forward(
        self, prompt: ExemplarPrompt, image_features: torch.Tensor, image_pos: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """prompt: the exemplars (ExemplarPrompt.of(B) for a text-only prompt); image_features
        B x d x H x W (the detector neck's last level) and image_pos B x d x H x W (its sine
        encoding). Returns tokens B x S x d and padding B x S (True = padding) with
        S = Np + Nb + 1: each row's valid point tokens, valid box tokens and CLS token first."""
        batch, d, height, width = image_features.shape
        memory = image_features.flatten(2).transpose(1, 2)  # B x HW x d
        memory_pos = image_pos.flatten(2).transpose(1, 2)
        pool_map = self.img_pre_norm(memory).transpose(1, 2).reshape(batch, d, height, width)

        tokens = self._encode_boxes(prompt.boxes, prompt.box_labels, pool_map)
        padding = prompt.box_padding
        if prompt.points.shape[1]:  # else the boxes alone are the same tokens (and trace to ONNX)
            points = self._encode_points(prompt.points, prompt.point_labels, pool_map)
            tokens, padding = concat_right_padded(points, prompt.point_padding, tokens, padding)
        cls = self.cls_embed.weight.view(1, 1, d).expand(batch, 1, d)
        tokens, padding = concat_right_padded(
            tokens, padding, cls, _no_padding(batch, 1, tokens.device)
        )
        tokens = self.norm(self.final_proj(tokens))
        for layer in self.encode:
            tokens = run_part(
                self, layer, tokens, memory, memory_pos=memory_pos, tgt_key_padding_mask=padding
            )
        return self.encode_norm(tokens), padding
