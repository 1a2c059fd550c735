"""The box arithmetic of SAM 3's detector (Meta's sam3 model_misc / box_ops / position-encoding /
decoder helpers, same formulas): boxes are normalised cx, cy, w, h in [0, 1]; the geometry
encoder embeds exemplar coordinates as sines; the decoder refines boxes in logit space, embeds them
as sines for the query position, and turns them into a per-head bias on the image cross-attention
("boxRPB" log mode)."""

import math

import torch

from ...sam2.layers import MLP


def inverse_sigmoid(x: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """logit(x) with both x and 1 - x floored at eps (Meta's model_misc.inverse_sigmoid)."""
    x = x.clamp(min=0, max=1)
    return torch.log(x.clamp(min=eps) / (1 - x).clamp(min=eps))


def box_cxcywh_to_xyxy(boxes: torch.Tensor) -> torch.Tensor:
    cx, cy, w, h = boxes.unbind(-1)
    return torch.stack([cx - 0.5 * w, cy - 0.5 * h, cx + 0.5 * w, cy + 0.5 * h], dim=-1)


def sine_coordinates(v: torch.Tensor, num_feats: int, temperature: float = 10000.0) -> torch.Tensor:
    """Meta's sine encoding of normalised coordinates (any shape): times 2 pi, over
    temperature^(2 floor(i / 2) / num_feats), sin on even and cos on odd features:
    shape + (num_feats,)."""
    dim_t = torch.arange(num_feats, dtype=torch.float32, device=v.device)
    dim_t = temperature ** (2 * (dim_t // 2) / num_feats)
    scaled = (v * (2 * math.pi))[..., None] / dim_t
    pairs = torch.stack((scaled[..., 0::2].sin(), scaled[..., 1::2].cos()), dim=-1)
    # the shape spelt out, not flatten's -1, which ONNX Reshape cannot infer for 0 boxes
    return pairs.reshape(*v.shape, num_feats)


def sine_embed_boxes(boxes: torch.Tensor, d_model: int) -> torch.Tensor:
    """... x 4 boxes (cx, cy, w, h) -> ... x 2*d_model: each coordinate's d_model/2 sine
    features (temperature 10000), in the order y, x, w, h (Meta's gen_sineembed_for_position)."""
    cx, cy, w, h = boxes.unbind(-1)
    return torch.cat([sine_coordinates(c, d_model // 2) for c in (cy, cx, w, h)], dim=-1)


def _log_scaled(deltas: torch.Tensor) -> torch.Tensor:
    """Offsets in [-1, 1] spread over [-8, 8] and compressed: sign * log2(|8 d| + 1) / 3."""
    deltas = deltas * 8
    return torch.sign(deltas) * torch.log2(deltas.abs() + 1.0) / 3.0


def box_log_bias(
    embed_x: MLP, embed_y: MLP, boxes: torch.Tensor, height: int, width: int
) -> torch.Tensor:
    """The image cross-attention's bias for each query from its box: B x Q x 4 (cx, cy, w, h) ->
    B x heads x Q x (H*W) (Meta's TransformerDecoder._get_rpb_matrix, boxRPB="log").

    Each grid cell's normalised coordinate (row / H, column / W) minus the box's two edges on that
    axis, log-scaled, goes through embed_y (rows) or embed_x (columns), 2 -> heads; a cell's bias is
    the sum of its row's and its column's. Meta caches the coordinates for 1008 / 14 = 72 cells and
    computes the same values for any other grid."""
    xyxy = box_cxcywh_to_xyxy(boxes)
    rows = torch.arange(height, device=boxes.device, dtype=torch.float32) / height
    cols = torch.arange(width, device=boxes.device, dtype=torch.float32) / width
    deltas_y = rows[None, None, :, None] - xyxy[:, :, None, 1::2]  # B x Q x H x 2
    deltas_x = cols[None, None, :, None] - xyxy[:, :, None, 0::2]  # B x Q x W x 2
    bias_y = embed_y(_log_scaled(deltas_y))  # B x Q x H x heads
    bias_x = embed_x(_log_scaled(deltas_x))  # B x Q x W x heads
    bias = bias_y[:, :, :, None] + bias_x[:, :, None, :]  # B x Q x H x W x heads
    return bias.flatten(2, 3).permute(0, 3, 1, 2).contiguous()
