"""The two-way transformer of the mask decoder, shared by both families: prompt tokens and image
tokens attend to each other (segment_anything's TwoWayTransformer for SAM 1, sam2's for SAM 2.1).

The two official versions compute the same thing under the same names; what differs:
- the token MLP's keys: SAM 1 has mlp.lin1 / mlp.lin2 (common.MLPBlock, the default), SAM 2
  mlp.layers.0 / mlp.layers.1 (its sam2/layers.MLP). The family passes its MLP as `mlp`:
  sam1/config.py builds with the default, sam2/family.py passes SAM 2's.
- SAM 2's Attention also takes keys / values of another width (kv_in_dim) and attention dropout;
  Attention here has both, but the two-way transformer of neither family uses them (dropout 0;
  the cross attentions of both run at attention_downsample_rate 2).
Module names are the official ones: LoRA targets such as
mask_decoder.transformer.layers.0.self_attn.q_proj rely on them.
"""

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .common import MLPBlock

MlpFactory = Callable[[int, int], nn.Module]  # (embedding_dim, mlp_dim) -> the token MLP


def relu_mlp_block(embedding_dim: int, mlp_dim: int) -> nn.Module:
    """SAM 1's token MLP: lin1, ReLU, lin2."""
    return MLPBlock(embedding_dim, mlp_dim, nn.ReLU)


class TwoWayTransformer(nn.Module):
    def __init__(
        self,
        *,
        depth: int,
        embedding_dim: int,
        num_heads: int,
        mlp_dim: int,
        attention_downsample_rate: int = 2,
        mlp: MlpFactory = relu_mlp_block,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            TwoWayAttentionBlock(
                embedding_dim=embedding_dim,
                num_heads=num_heads,
                mlp_dim=mlp_dim,
                attention_downsample_rate=attention_downsample_rate,
                skip_first_layer_pe=(i == 0),
                mlp=mlp,
            )
            for i in range(depth)
        )
        self.final_attn_token_to_image = Attention(
            embedding_dim, num_heads, downsample_rate=attention_downsample_rate
        )
        self.norm_final_attn = nn.LayerNorm(embedding_dim)

    def forward(
        self, image_embedding: torch.Tensor, image_pe: torch.Tensor, point_embedding: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """image_embedding, image_pe: N x C x h x w; point_embedding: N x K x C.

        Returns the updated tokens N x K x C and image tokens N x hw x C.
        """
        keys = image_embedding.flatten(2).transpose(1, 2)
        key_pe = image_pe.flatten(2).transpose(1, 2)
        queries = point_embedding
        for layer in self.layers:
            queries, keys = layer(queries, keys, point_embedding, key_pe)
        q = queries + point_embedding
        queries = queries + self.final_attn_token_to_image(q, keys + key_pe, keys)
        return self.norm_final_attn(queries), keys


class TwoWayAttentionBlock(nn.Module):
    """Token self-attention, token->image attention, token MLP, image->token attention."""

    def __init__(
        self,
        *,
        embedding_dim: int,
        num_heads: int,
        mlp_dim: int,
        attention_downsample_rate: int,
        skip_first_layer_pe: bool,
        mlp: MlpFactory = relu_mlp_block,
    ) -> None:
        super().__init__()
        self.self_attn = Attention(embedding_dim, num_heads)
        self.norm1 = nn.LayerNorm(embedding_dim)
        self.cross_attn_token_to_image = Attention(
            embedding_dim, num_heads, downsample_rate=attention_downsample_rate
        )
        self.norm2 = nn.LayerNorm(embedding_dim)
        self.mlp = mlp(embedding_dim, mlp_dim)
        self.norm3 = nn.LayerNorm(embedding_dim)
        self.norm4 = nn.LayerNorm(embedding_dim)
        self.cross_attn_image_to_token = Attention(
            embedding_dim, num_heads, downsample_rate=attention_downsample_rate
        )
        self.skip_first_layer_pe = skip_first_layer_pe

    def forward(
        self,
        queries: torch.Tensor,
        keys: torch.Tensor,
        query_pe: torch.Tensor,
        key_pe: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if self.skip_first_layer_pe:
            queries = self.self_attn(queries, queries, queries)
        else:
            q = queries + query_pe
            queries = queries + self.self_attn(q, q, queries)
        queries = self.norm1(queries)

        q, k = queries + query_pe, keys + key_pe
        queries = self.norm2(queries + self.cross_attn_token_to_image(q, k, keys))
        queries = self.norm3(queries + self.mlp(queries))

        q = queries + query_pe  # keys are unchanged since k was formed
        keys = self.norm4(keys + self.cross_attn_image_to_token(k, q, queries))
        return queries, keys


class Attention(nn.Module):
    """Multi-head attention with q/k/v/out projections; the heads work at
    embedding_dim / downsample_rate, keys and values may come in at kv_in_dim."""

    def __init__(
        self,
        embedding_dim: int,
        num_heads: int,
        *,
        downsample_rate: int = 1,
        kv_in_dim: int | None = None,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        kv_in_dim = embedding_dim if kv_in_dim is None else kv_in_dim
        internal_dim = embedding_dim // downsample_rate
        if internal_dim % num_heads:
            raise ValueError(
                f"num_heads={num_heads} must divide the attention width {internal_dim}"
            )
        self.num_heads = num_heads
        self.dropout = dropout
        self.q_proj = nn.Linear(embedding_dim, internal_dim)
        self.k_proj = nn.Linear(kv_in_dim, internal_dim)
        self.v_proj = nn.Linear(kv_in_dim, internal_dim)
        self.out_proj = nn.Linear(internal_dim, embedding_dim)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """B x N x C -> B x heads x N x C/heads."""
        return x.unflatten(-1, (self.num_heads, -1)).transpose(1, 2)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """q: B x Nq x C, k and v: B x Nk x C_kv -> B x Nq x C."""
        q = self._heads(self.q_proj(q))
        k = self._heads(self.k_proj(k))
        v = self._heads(self.v_proj(v))
        dropout = self.dropout if self.training else 0.0
        if token_attention_in_fp32(q, k, v):
            with torch.autocast("cpu", enabled=False):
                out = F.scaled_dot_product_attention(
                    q.float(), k.float(), v.float(), dropout_p=dropout
                )
            out = out.to(q.dtype)
        else:
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)
        return self.out_proj(out.transpose(1, 2).flatten(2))


PROMPT_TOKENS_MAX = 64  # one side of the decoder's attentions: the output and prompt tokens


def token_attention_in_fp32(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> bool:
    """Whether a bf16 attention on the CPU whose backward follows runs in fp32 instead: the
    decoder's token <-> image attentions (a handful of tokens on one side, head width 16) take
    SDPA's CPU flash kernel, whose bf16 backward is 2.5-3x slower than its fp32 one on these shapes
    (vit_b, 8 x 4096 tokens, 1 thread, forward + backward: 8.8 vs 3.0 ms; 4096 x 8: 19.9 vs 7.4).
    The result is rounded to bf16 as before; inference (no backward) keeps the bf16 kernel."""
    return (
        not torch.jit.is_tracing()
        and q.device.type == "cpu"
        and q.dtype == torch.bfloat16
        and torch.is_grad_enabled()
        and (q.requires_grad or k.requires_grad or v.requires_grad)
        and min(q.shape[-2], k.shape[-2]) <= PROMPT_TOKENS_MAX
    )
