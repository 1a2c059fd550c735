"""SAM 3's text encoder (detector.backbone.language_backbone): a CLIP-style causal transformer
over BPE ids, its tokens brought to the detector's width by a linear resizer. Computes what
Meta's sam3 VETextEncoder returns inside SAM3VLBackbone.forward_text (language_features,
language_mask, language_embeds), batch-first. grad_checkpointing (TextTransformer's) recomputes
each block in backward in train mode (recompute.py), as Meta's use_act_checkpoint.

State-dict keys equal Meta's module as model_builder._create_text_encoder builds it (including
the CLIP pooling projection `encoder.text_projection`, which Meta loads but SAM 3 never applies:
it keeps every token, not a pooled one).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ....clip_tokenizer import (
    CLIP_VOCAB_SIZE,
    CONTEXT_LENGTH,
    MERGES_FILE_NAME,
    PADDING_ID,
    ClipTokenizer,
    TokenizerFileError,
)
from .recompute import run_part

STATE_PREFIX = "detector.backbone.language_backbone."


@dataclass(frozen=True)
class TextEncoderConfig:
    d_model: int = 256  # the detector's width (the resizer's output)
    width: int = 1024
    heads: int = 16
    layers: int = 24
    context_length: int = CONTEXT_LENGTH
    vocab_size: int = CLIP_VOCAB_SIZE
    mlp_ratio: float = 4.0
    projection_dim: int = 512  # encoder.text_projection's columns (held, unused)

    def __post_init__(self) -> None:
        if self.width % self.heads:
            raise ValueError(f"width {self.width} is not a multiple of heads {self.heads}")


class TextFeatures(NamedTuple):
    """Batch-first: B texts, L = context_length tokens."""

    features: torch.Tensor  # (B, L, d_model): language_features
    padding_mask: torch.Tensor  # (B, L) bool, True = padding: language_mask
    token_embeddings: torch.Tensor  # (B, L, width), before the transformer: language_embeds


def padding_mask(ids: torch.Tensor) -> torch.Tensor:
    """True where an id is PADDING_ID, as Meta marks padding (so an unmerged "!" inside a text,
    which is id 0 too, is also masked: kept for parity)."""
    return ids == PADDING_ID


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention where a token sees itself and the tokens before it; parameters
    named as nn.MultiheadAttention's (in_proj_weight / in_proj_bias / out_proj)."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.in_proj_weight = nn.Parameter(torch.empty(3 * width, width))
        self.in_proj_bias = nn.Parameter(torch.zeros(3 * width))
        self.out_proj = nn.Linear(width, width)
        nn.init.xavier_uniform_(self.in_proj_weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)
        q, k, v = qkv.view(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        x = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return self.out_proj(x.transpose(1, 2).reshape(b, n, c))


class TextBlock(nn.Module):
    """Pre-norm residual block: causal attention, then a GELU MLP."""

    def __init__(self, width: int, heads: int, mlp_ratio: float) -> None:
        super().__init__()
        hidden = int(width * mlp_ratio)
        self.attn = CausalSelfAttention(width, heads)
        self.ln_1 = nn.LayerNorm(width)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            OrderedDict(
                [
                    ("c_fc", nn.Linear(width, hidden)),
                    ("gelu", nn.GELU()),
                    ("c_proj", nn.Linear(hidden, width)),
                ]
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class TextTransformer(nn.Module):
    """Token + learnt position embeddings, causal blocks (`transformer.resblocks`), final norm."""

    def __init__(self, cfg: TextEncoderConfig) -> None:
        super().__init__()
        self.token_embedding = nn.Embedding(cfg.vocab_size, cfg.width)
        self.positional_embedding = nn.Parameter(torch.zeros(cfg.context_length, cfg.width))
        self.transformer = nn.Module()
        self.transformer.resblocks = nn.ModuleList(
            TextBlock(cfg.width, cfg.heads, cfg.mlp_ratio) for _ in range(cfg.layers)
        )
        self.grad_checkpointing = False  # train mode: recompute each block in backward
        self.ln_final = nn.LayerNorm(cfg.width)
        self.text_projection = nn.Parameter(torch.zeros(cfg.width, cfg.projection_dim))
        nn.init.normal_(self.positional_embedding, std=0.01)

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ids (B, L) -> (token embeddings, encoded tokens), both (B, L, width)."""
        embedded = self.token_embedding(ids)
        x = embedded + self.positional_embedding[: ids.shape[1]]
        for block in self.transformer.resblocks:
            x = run_part(self, block, x)
        return embedded, self.ln_final(x)


class TextEncoder(nn.Module):
    """Texts (tokenised by `tokenizer`) or BPE ids -> TextFeatures."""

    def __init__(
        self, cfg: TextEncoderConfig = TextEncoderConfig(), tokenizer: ClipTokenizer | None = None
    ) -> None:
        super().__init__()
        if tokenizer is not None and tokenizer.context_length != cfg.context_length:
            raise ValueError(
                f"the tokenizer's context {tokenizer.context_length} is not the text encoder's "
                f"{cfg.context_length}"
            )
        self.cfg = cfg
        self.tokenizer = tokenizer
        self.encoder = TextTransformer(cfg)
        self.resizer = nn.Linear(cfg.width, cfg.d_model)

    def tokenize(self, texts: str | Sequence[str]) -> torch.Tensor:
        """(B, context_length) ids on the module's device (one string is one text)."""
        if self.tokenizer is None:
            raise TokenizerFileError(
                f"text prompts need CLIP's BPE merges file {MERGES_FILE_NAME} (from Meta's sam3 "
                "repository, assets/): give its path"
            )
        return self.tokenizer([texts] if isinstance(texts, str) else list(texts)).to(
            self.resizer.weight.device
        )

    def forward(self, text: str | Sequence[str] | torch.Tensor) -> TextFeatures:
        """text: B strings (one string: B = 1), or int64 ids (B, L) as the tokenizer gives them
        (L <= context_length, 0 = padding)."""
        ids = text if isinstance(text, torch.Tensor) else self.tokenize(text)
        if ids.dim() != 2 or ids.shape[1] > self.cfg.context_length:
            raise ValueError(f"ids must be (B, L <= {self.cfg.context_length}), got {ids.shape}")
        embedded, encoded = self.encoder(ids)
        return TextFeatures(self.resizer(encoded), padding_mask(ids), embedded)
