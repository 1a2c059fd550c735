"""SAM 3's detector decoder (detector.transformer.decoder: Meta's TransformerDecoder with its
TransformerDecoderLayer as model_builder's _create_transformer_decoder builds it): learned object
queries with learned reference boxes, refined layer by layer; a presence token that says whether
the prompted concept is in the image at all.

Each layer (post-norm): self-attention over [presence token, queries] with the queries' box
position, cross-attention to the prompt tokens under their padding mask, cross-attention to the
encoded image with the box log relative-position bias (boxes.box_log_bias), FFN.

Training (Meta's apply_dac, which Sam3Image turns on in train mode): DAC runs a second copy of the
queries (same embeddings, same reference boxes) behind the first: the one-to-many half, which skips
self-attention (so neither it nor the presence token sees the other half) and is otherwise refined
as the one-to-one half is. Meta's dropouts (0.1) act in train mode only and hold no tensors, so the
keys equal Meta's. grad_checkpointing recomputes each layer in backward in train mode, its box
position and image bias included (Meta checkpoints the layer and the bias MLPs; recompute.py).
Batch-first throughout."""

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ...sam2.layers import MLP
from .boxes import box_cxcywh_to_xyxy, box_log_bias, inverse_sigmoid, sine_embed_boxes
from .encoder_layer import attend
from .recompute import run_part


@dataclass(frozen=True)
class DecoderConfig:
    """Meta's full size by default."""

    d_model: int = 256
    num_heads: int = 8
    dim_feedforward: int = 2048
    num_layers: int = 6
    num_queries: int = 200
    dropout: float = 0.1  # each layer's (train mode only)


class DecoderLayer(nn.Module):
    """Keys self_attn.*, norm2, ca_text.*, catext_norm, cross_attn.*, norm1, linear1/2, norm3 as
    Meta's TransformerDecoderLayer (use_text_cross_attention=True)."""

    def __init__(self, cfg: DecoderConfig) -> None:
        super().__init__()
        d, heads, p = cfg.d_model, cfg.num_heads, cfg.dropout
        self.cross_attn = nn.MultiheadAttention(d, heads, dropout=p)
        self.dropout1 = nn.Dropout(p)
        self.norm1 = nn.LayerNorm(d)
        self.ca_text = nn.MultiheadAttention(d, heads, dropout=p)
        self.catext_dropout = nn.Dropout(p)
        self.catext_norm = nn.LayerNorm(d)
        self.self_attn = nn.MultiheadAttention(d, heads, dropout=p)
        self.dropout2 = nn.Dropout(p)
        self.norm2 = nn.LayerNorm(d)
        self.linear1 = nn.Linear(d, cfg.dim_feedforward)
        self.dropout3 = nn.Dropout(p)  # the FFN's hidden layer
        self.linear2 = nn.Linear(cfg.dim_feedforward, d)
        self.dropout4 = nn.Dropout(p)
        self.norm3 = nn.LayerNorm(d)

    def forward(
        self,
        queries: torch.Tensor,
        query_pos: torch.Tensor,
        presence: torch.Tensor,
        prompt: torch.Tensor,
        prompt_padding_mask: torch.Tensor | None,
        memory: torch.Tensor,
        memory_pos: torch.Tensor,
        image_bias: torch.Tensor,
        *,
        dac: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """queries / query_pos B x Q x d, presence B x 1 x d, prompt B x N x d with its padding
        mask B x N (True = padding), memory / memory_pos B x HW x d, image_bias
        (B*heads) x Q x HW. Returns (queries B x Q x d, presence B x 1 x d).

        The presence token rides in front of the queries with a zero position and a zero bias.
        dac: the second half of the queries (the one-to-many copies) skips self-attention."""
        x = torch.cat([presence, queries], dim=1)
        pos = torch.cat([torch.zeros_like(presence), query_pos], dim=1)
        attending = 1 + queries.shape[1] // 2 if dac else x.shape[1]
        qk = (x + pos)[:, :attending]
        attended = self.dropout2(attend(self.self_attn, qk, qk, x[:, :attending]))
        x = self.norm2(torch.cat([x[:, :attending] + attended, x[:, attending:]], dim=1))
        attended = attend(
            self.ca_text, x + pos, prompt, prompt, key_padding_mask=prompt_padding_mask
        )
        x = self.catext_norm(x + self.catext_dropout(attended))
        bias = torch.cat([torch.zeros_like(image_bias[:, :1]), image_bias], dim=1)
        attended = attend(self.cross_attn, x + pos, memory + memory_pos, memory, attn_mask=bias)
        x = self.norm1(x + self.dropout1(attended))
        # Meta runs the FFN outside CUDA autocast (fp32 under bf16 training and inference)
        with torch.autocast(device_type="cuda", enabled=False):
            hidden = self.linear2(self.dropout3(F.relu(self.linear1(x))))
        x = self.norm3(x + self.dropout4(hidden))
        return x[:, 1:], x[:, :1]


class DecoderOutput(NamedTuple):
    """Per layer, batch-first (Meta's TransformerDecoder outputs after Sam3Image._run_decoder's
    transposes): hs L x B x Q x d (the queries after the output norm); reference_boxes
    L x B x Q x 4 (cx, cy, w, h in [0, 1], the boxes each layer started from: the learned ones, then
    each layer's refinement, not detached: a layer's box loss reaches the layer before, as in
    Meta's; the next layer's input is detached); presence_logits L x B x 1 (not clamped: Meta's
    clamp there discards its result); presence_feats B x 1 x d (the last layer's presence token,
    before its norm). With DAC, Q is twice the learned queries: the one-to-one half first."""

    hs: torch.Tensor
    reference_boxes: torch.Tensor
    presence_logits: torch.Tensor
    presence_feats: torch.Tensor


class Decoder(nn.Module):
    """Keys as Meta's detector.transformer.decoder: layers.N.*, norm, bbox_embed.layers.0-2,
    query_embed, reference_points, boxRPB_embed_x/y.layers.0-1, presence_token,
    presence_token_head.layers.0-2, presence_token_out_norm, ref_point_head.layers.0-1."""

    def __init__(self, cfg: DecoderConfig | None = None) -> None:
        super().__init__()
        self.cfg = cfg = cfg or DecoderConfig()
        d = cfg.d_model
        self.layers = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.num_layers))
        self.grad_checkpointing = False  # train mode: recompute each layer in backward
        self.norm = nn.LayerNorm(d)
        self.bbox_embed = MLP(d, d, 4, 3)
        self.query_embed = nn.Embedding(cfg.num_queries, d)
        self.reference_points = nn.Embedding(cfg.num_queries, 4)
        self.boxRPB_embed_x = MLP(2, d, cfg.num_heads, 2)
        self.boxRPB_embed_y = MLP(2, d, cfg.num_heads, 2)
        self.presence_token = nn.Embedding(1, d)
        self.presence_token_head = MLP(d, d, 1, 3)
        self.presence_token_out_norm = nn.LayerNorm(d)
        self.ref_point_head = MLP(2 * d, d, d, 2)

    def forward(
        self,
        memory: torch.Tensor,
        memory_pos: torch.Tensor,
        spatial_shape: tuple[int, int],
        prompt: torch.Tensor,
        prompt_padding_mask: torch.Tensor | None,
        *,
        dac: bool = False,
    ) -> DecoderOutput:
        """memory / memory_pos B x HW x d (FusionEncoderOutput.memory / pos_embed), spatial_shape
        (H, W), prompt B x N x d (the prompt as encoded by the fusion encoder, i.e. as given to it)
        with its padding mask B x N (True = padding).

        Meta's call (Sam3Image._run_decoder, eval): transformer.decoder(tgt=query_embed repeated,
        memory=, memory_key_padding_mask=None, pos=, reference_boxes=None, spatial_shapes=,
        valid_ratios=ones, memory_text=prompt, text_attention_mask=prompt_mask, apply_dac=False);
        dac=True is its apply_dac=True (Sam3Image in train mode): the queries and reference boxes
        repeated, the copies after the originals."""
        batch = memory.shape[0]
        copies = 2 if dac else 1
        queries = self.query_embed.weight.repeat(copies, 1)[None].expand(batch, -1, -1)
        boxes = self.reference_points.weight.repeat(copies, 1).sigmoid()[None].expand(batch, -1, -1)
        reference = boxes  # what the layer's boxes are predicted from: kept in the graph
        presence = self.presence_token.weight[None].expand(batch, -1, -1)
        hs, refs, presence_logits = [], [], []
        for layer in self.layers:
            queries, presence = run_part(
                self, self._layer_step, layer, boxes, queries, presence, prompt,
                prompt_padding_mask, memory, memory_pos, spatial_shape, dac,
            )
            normed = self.norm(queries)
            refs.append(reference)
            hs.append(normed)
            reference = (inverse_sigmoid(boxes) + self.bbox_embed(normed)).sigmoid()
            boxes = reference.detach()
            logits = self.presence_token_head(self.presence_token_out_norm(presence))
            presence_logits.append(logits.squeeze(-1))
        return DecoderOutput(
            torch.stack(hs), torch.stack(refs), torch.stack(presence_logits), presence
        )

    def _layer_step(
        self,
        layer: DecoderLayer,
        boxes: torch.Tensor,
        queries: torch.Tensor,
        presence: torch.Tensor,
        prompt: torch.Tensor,
        prompt_padding_mask: torch.Tensor | None,
        memory: torch.Tensor,
        memory_pos: torch.Tensor,
        spatial_shape: tuple[int, int],
        dac: bool,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One layer from the boxes B x Q x 4 it starts from: their sine position through
        ref_point_head, their log relative-position bias over the H x W image, the layer."""
        query_pos = self.ref_point_head(sine_embed_boxes(boxes, self.cfg.d_model))
        bias = box_log_bias(self.boxRPB_embed_x, self.boxRPB_embed_y, boxes, *spatial_shape)
        return layer(
            queries, query_pos, presence, prompt, prompt_padding_mask,
            memory, memory_pos, bias.flatten(0, 1), dac=dac,
        )

    def predict_boxes(
        self, hs: torch.Tensor, reference_boxes: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Each layer's boxes (Sam3Image._update_scores_and_boxes):
        sigmoid(inverse_sigmoid(reference) + bbox_embed(hs)), ... x 4 as cx, cy, w, h in [0, 1], and
        the same as x0, y0, x1, y1. hs / reference_boxes as in DecoderOutput."""
        boxes = (inverse_sigmoid(reference_boxes) + self.bbox_embed(hs)).sigmoid()
        return boxes, box_cxcywh_to_xyxy(boxes)
