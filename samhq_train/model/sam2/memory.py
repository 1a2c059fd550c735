"""SAM 2's video parts: the memory attention (the current frame's features attend to the memory
of earlier frames and to object pointers) and the memory encoder (a frame's features fused with
its predicted mask into a memory). Image segmentation does not use them; the video tracker
(tracking.py) does. Names, shapes and submodule order are the official ones, so official
checkpoints load strictly and save back with every key in the same order.
"""

import torch
import torch.nn.functional as F
from torch import nn

from ..common import LayerNorm2d
from ..two_way_transformer import Attention
from .image_encoder import sine_position_encoding


def axial_rope_angles(dim: int, side: int, theta: float) -> torch.Tensor:
    """Rotation angles of SAM 2's 2-D axial RoPE for a side x side grid (row-major tokens):
    side^2 x dim/2, the first dim/4 from the x index, the next dim/4 from the y index."""
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 4)[: dim // 4].float() / dim))
    t = torch.arange(side * side, dtype=torch.float32)
    tx, ty = t % side, torch.div(t, side, rounding_mode="floor")
    return torch.cat([torch.outer(tx, freqs), torch.outer(ty, freqs)], dim=-1)


def rotate_pairs(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """x ... x N x D with (x[2i], x[2i+1]) rotated by angles N x D/2 (computed in fp32)."""
    pairs = x.float().unflatten(-1, (-1, 2))
    even, odd = pairs[..., 0], pairs[..., 1]
    cos, sin = angles.cos(), angles.sin()
    out = torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1)
    return out.flatten(-2).to(x.dtype)


class RoPEAttention(Attention):
    """Attention with SAM 2's axial rotary encoding on the queries (a square grid of tokens) and
    on the keys, whose rotated part is a whole number of such grids (memory frames); the last
    `num_k_exclude_rope` keys (object pointers) are not rotated."""

    def __init__(self, embedding_dim: int, num_heads: int, *, rope_theta: float = 10000.0,
                 kv_in_dim: int | None = None) -> None:
        super().__init__(embedding_dim, num_heads, kv_in_dim=kv_in_dim)
        self.rope_theta = rope_theta

    def forward(self, q, k, v, num_k_exclude_rope: int = 0) -> torch.Tensor:
        """q: B x Nq x C (Nq a square), k and v: B x Nk x C_kv -> B x Nq x C."""
        q = self._heads(self.q_proj(q))
        k = self._heads(self.k_proj(k))
        v = self._heads(self.v_proj(v))
        n_q, n_rope = q.shape[-2], k.shape[-2] - num_k_exclude_rope
        side = round(n_q**0.5)
        if side * side != n_q or n_rope % n_q:
            raise ValueError(f"RoPE needs a square query grid and whole key grids ({n_q}, {n_rope})")
        angles = axial_rope_angles(q.shape[-1], side, self.rope_theta).to(q.device)
        q = rotate_pairs(q, angles)
        if n_rope:
            rotated = rotate_pairs(k[..., :n_rope, :], angles.repeat(n_rope // n_q, 1))
            k = torch.cat([rotated, k[..., n_rope:, :]], dim=-2)
        dropout = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)
        return self.out_proj(out.transpose(1, 2).flatten(2))


class MemoryAttentionLayer(nn.Module):
    """Pre-norm RoPE self-attention, cross-attention to the memory (keys with their position
    encoding added, queries without) and a ReLU MLP, each residual (the SAM 2.1 settings:
    pos_enc_at_attn false, pos_enc_at_cross_attn_keys true, pos_enc_at_cross_attn_queries
    false)."""

    def __init__(
        self,
        *,
        d_model: int,
        dim_feedforward: int,
        num_heads: int,
        kv_in_dim: int,
        rope_theta: float = 10000.0,
    ) -> None:
        super().__init__()
        self.self_attn = RoPEAttention(d_model, num_heads, rope_theta=rope_theta)
        self.cross_attn_image = RoPEAttention(
            d_model, num_heads, rope_theta=rope_theta, kv_in_dim=kv_in_dim
        )
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)
        self.dropout = 0.0  # training only (set_dropout); SAM 2's training configs: 0.1

    def set_dropout(self, p: float) -> None:
        """Dropout p on both attentions' weights, each residual branch and the MLP's hidden
        layer, in training mode only (SAM 2's MemoryAttentionLayer dropout)."""
        self.dropout = self.self_attn.dropout = self.cross_attn_image.dropout = float(p)

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, self.dropout, self.training) if self.dropout else x

    def forward(self, x, memory, memory_pos, num_obj_ptr_tokens: int) -> torch.Tensor:
        """x: B x N x C (the frame's tokens), memory and memory_pos: B x M x C_mem."""
        y = self.norm1(x)
        x = x + self._drop(self.self_attn(y, y, y))
        y = self.norm2(x)
        x = x + self._drop(self.cross_attn_image(y, memory + memory_pos, memory,
                                                 num_obj_ptr_tokens))
        return x + self._drop(self.linear2(self._drop(F.relu(self.linear1(self.norm3(x))))))


class MemoryAttention(nn.Module):
    """`num_layers` MemoryAttentionLayers and a final norm; the frame's position encoding enters
    once, scaled by 0.1, at the input (pos_enc_at_input)."""

    def __init__(
        self,
        *,
        d_model: int,
        num_layers: int,
        dim_feedforward: int,
        num_heads: int,
        kv_in_dim: int,
        rope_theta: float = 10000.0,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            MemoryAttentionLayer(
                d_model=d_model,
                dim_feedforward=dim_feedforward,
                num_heads=num_heads,
                kv_in_dim=kv_in_dim,
                rope_theta=rope_theta,
            )
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(d_model)

    def set_dropout(self, p: float) -> None:
        """Training-mode dropout p in every layer (0: none, the default)."""
        for layer in self.layers:
            layer.set_dropout(p)

    def forward(
        self, x, x_pos, memory, memory_pos, num_obj_ptr_tokens: int = 0
    ) -> torch.Tensor:
        """x, x_pos: B x N x C (the frame's tokens on a square grid); memory, memory_pos:
        B x M x C_mem, whose last num_obj_ptr_tokens are object pointers -> B x N x C."""
        x = x + 0.1 * x_pos
        for layer in self.layers:
            x = layer(x, memory, memory_pos, num_obj_ptr_tokens)
        return self.norm(x)


class MaskDownSampler(nn.Module):
    """(conv, LayerNorm2d, GELU) until total_stride, then a 1 x 1 conv to embed_dim. With
    interpol_size (SAM 3: 16 x its token grid, as its memory map is the grid), a mask of another
    size is first resized to interpol_size x interpol_size (bilinear, antialiased)."""

    def __init__(
        self,
        *,
        embed_dim: int,
        kernel_size: int,
        stride: int,
        padding: int,
        total_stride: int = 16,
        interpol_size: int | None = None,
    ) -> None:
        super().__init__()
        self.interpol_size = interpol_size
        self.encoder = nn.Sequential()
        chans = 1
        reached = 1
        while reached < total_stride:
            out = chans * stride**2
            self.encoder.append(nn.Conv2d(chans, out, kernel_size, stride=stride, padding=padding))
            self.encoder.append(LayerNorm2d(out))
            self.encoder.append(nn.GELU())
            chans, reached = out, reached * stride
        if reached != total_stride:
            raise ValueError(
                f"mask_downsampler stride {stride} does not reach total_stride {total_stride}"
            )
        self.encoder.append(nn.Conv2d(chans, embed_dim, kernel_size=1))

    def forward(self, masks: torch.Tensor) -> torch.Tensor:
        size = self.interpol_size
        if size is not None and tuple(masks.shape[-2:]) != (size, size):
            masks = F.interpolate(
                masks.float(), (size, size), mode="bilinear", align_corners=False, antialias=True
            )
        return self.encoder(masks)


class CXBlock(nn.Module):
    """The ConvNeXt block of the memory fuser (gamma is the layer scale)."""

    def __init__(self, *, dim: int, kernel_size: int, padding: int, use_dwconv: bool) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))
        self.dwconv = nn.Conv2d(
            dim, dim, kernel_size=kernel_size, padding=padding, groups=dim if use_dwconv else 1
        )
        self.norm = LayerNorm2d(dim)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm(self.dwconv(x)).permute(0, 2, 3, 1)
        y = self.gamma * self.pwconv2(F.gelu(self.pwconv1(y)))
        return x + y.permute(0, 3, 1, 2)


class Fuser(nn.Module):
    def __init__(
        self, *, num_layers: int, dim: int, kernel_size: int, padding: int, use_dwconv: bool
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            CXBlock(dim=dim, kernel_size=kernel_size, padding=padding, use_dwconv=use_dwconv)
            for _ in range(num_layers)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x)
        return x


class MemoryEncoder(nn.Module):
    """A frame's features plus its downsampled mask, through the fuser, projected to out_dim
    (out_proj when out_dim != in_dim), with the sine position encoding of the result."""

    def __init__(
        self, *, in_dim: int, out_dim: int, mask_downsampler: MaskDownSampler, fuser: Fuser
    ) -> None:
        super().__init__()
        self.mask_downsampler = mask_downsampler
        self.pix_feat_proj = nn.Conv2d(in_dim, in_dim, kernel_size=1)
        self.fuser = fuser
        self.out_proj = nn.Conv2d(in_dim, out_dim, kernel_size=1) if out_dim != in_dim else None

    def forward(self, features: torch.Tensor, masks: torch.Tensor):
        """features B x C x h x w, masks B x 1 x 16h x 16w (already through the sigmoid, scaled)
        -> (memory B x C_out x h x w, its position encoding, same shape)."""
        x = self.pix_feat_proj(features) + self.mask_downsampler(masks)
        x = self.fuser(x)
        if self.out_proj is not None:
            x = self.out_proj(x)
        return x, sine_position_encoding(x, x.shape[1]).to(x.dtype)
