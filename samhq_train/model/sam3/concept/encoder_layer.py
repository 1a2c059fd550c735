"""The pre-norm transformer encoder layer of SAM 3's concept detector (Meta's
sam3.model.encoder.TransformerEncoderLayer as model_builder builds it, pre_norm=True, relu): self-
attention, cross-attention to a second sequence, FFN, each behind its own LayerNorm with a residual.

Two users, told apart by where the position encodings go (EncoderLayerConfig's switches):
- the fusion encoder (detector.transformer.encoder.layers.N): image tokens attend to themselves
  with the image position added to queries and keys, then to the prompt tokens (no positions);
- the geometry encoder (detector.geometry_encoder.encode.N): prompt tokens attend to themselves
  without positions, then to the image tokens with the image position added to the keys.

Meta's dropouts (0.1 in both builders) are here at its places: on the attention weights, on each
residual branch and inside the FFN; they act only in train mode (eval mode is dropout-free) and
hold no tensors, so the state_dict keys equal Meta's. Tensors are batch-first here (Meta's
geometry layer runs sequence-first, its fusion layer batch-first; the attention weights are the
same either way)."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class EncoderLayerConfig:
    """One layer's sizes and position switches; the defaults are the fusion encoder's full size
    (GEOMETRY_LAYER holds the geometry encoder's switches)."""

    d_model: int = 256
    num_heads: int = 8
    dim_feedforward: int = 2048
    pos_enc_at_attn: bool = True  # image / query position on self-attention's queries and keys
    pos_enc_at_cross_attn_queries: bool = False
    pos_enc_at_cross_attn_keys: bool = False  # memory position on cross-attention's keys
    dropout: float = 0.1  # train mode only: attention weights, residual branches, FFN hidden


FUSION_LAYER = EncoderLayerConfig()
GEOMETRY_LAYER = EncoderLayerConfig(pos_enc_at_attn=False, pos_enc_at_cross_attn_keys=True)


def with_pos(x: torch.Tensor, pos: torch.Tensor | None) -> torch.Tensor:
    return x if pos is None else x + pos


def attend(
    attn: nn.MultiheadAttention,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    *,
    key_padding_mask: torch.Tensor | None = None,
    attn_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """`attn` (a sequence-first nn.MultiheadAttention, Meta's keys in_proj_* / out_proj.*) on
    batch-first tensors: query B x L x d, key / value B x S x d -> B x L x d.
    key_padding_mask B x S, True = padding (ignored key); attn_mask (B*heads) x L x S, added to the
    logits when float. Transposing here is what a batch_first module does inside; it also keeps
    PyTorch's fused self-attention fast path (batch_first only) out, so padded rows are computed as
    in Meta's sequence-first layers."""
    out = attn(
        query.transpose(0, 1),
        key.transpose(0, 1),
        value.transpose(0, 1),
        key_padding_mask=key_padding_mask,
        attn_mask=attn_mask,
        need_weights=False,
    )[0]
    return out.transpose(0, 1)


class EncoderLayer(nn.Module):
    """Pre-norm self-attention -> cross-attention -> FFN (keys self_attn.*, cross_attn_image.*,
    linear1/2, norm1/2/3 as Meta's)."""

    def __init__(self, cfg: EncoderLayerConfig = FUSION_LAYER) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.self_attn = nn.MultiheadAttention(d, cfg.num_heads, dropout=cfg.dropout)
        self.cross_attn_image = nn.MultiheadAttention(d, cfg.num_heads, dropout=cfg.dropout)
        self.linear1 = nn.Linear(d, cfg.dim_feedforward)
        self.linear2 = nn.Linear(cfg.dim_feedforward, d)
        self.norm1 = nn.LayerNorm(d)
        self.norm2 = nn.LayerNorm(d)
        self.norm3 = nn.LayerNorm(d)
        self.dropout = nn.Dropout(cfg.dropout)  # the FFN's hidden layer
        self.dropout1 = nn.Dropout(cfg.dropout)  # the self-attention branch
        self.dropout2 = nn.Dropout(cfg.dropout)  # the cross-attention branch
        self.dropout3 = nn.Dropout(cfg.dropout)  # the FFN branch

    def forward(
        self,
        tgt: torch.Tensor,
        memory: torch.Tensor,
        *,
        query_pos: torch.Tensor | None = None,
        memory_pos: torch.Tensor | None = None,
        tgt_key_padding_mask: torch.Tensor | None = None,
        memory_key_padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """tgt B x N x d (the tokens updated), memory B x M x d (attended to); query_pos B x N x d
        and memory_pos B x M x d (either may be None where its switch is off); padding masks
        B x N and B x M, True = padding. Returns the updated tgt, B x N x d.

        Meta's call: layer(tgt=, memory=, query_pos=, pos=memory_pos, tgt_key_padding_mask=,
        memory_key_padding_mask=) with its tensors in its layout."""
        cfg = self.cfg
        x = self.norm1(tgt)
        qk = with_pos(x, query_pos) if cfg.pos_enc_at_attn else x
        attended = attend(self.self_attn, qk, qk, x, key_padding_mask=tgt_key_padding_mask)
        tgt = tgt + self.dropout1(attended)
        x = self.norm2(tgt)
        query = with_pos(x, query_pos) if cfg.pos_enc_at_cross_attn_queries else x
        key = with_pos(memory, memory_pos) if cfg.pos_enc_at_cross_attn_keys else memory
        attended = attend(
            self.cross_attn_image, query, key, memory, key_padding_mask=memory_key_padding_mask
        )
        tgt = tgt + self.dropout2(attended)
        x = self.norm3(tgt)
        return tgt + self.dropout3(self.linear2(self.dropout(F.relu(self.linear1(x)))))
