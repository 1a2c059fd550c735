"""SAM 3's image trunk: a plain ViT (patch 14, no cls token kept, no rel-pos bias) with windowed
attention except in a few global blocks, 2D rotary position encoding in every block, and a small
absolute position embedding tiled over the token grid.

RoPE: each head's channels come in pairs (2i, 2i+1) rotated by an angle; the first half of the
pairs turns with the token's column, the second half with its row, at frequencies
theta^(-4k / head_dim). Window blocks count positions inside their window; global blocks count
them on the whole grid scaled by window / grid (the official model was pretrained on windows and
interpolates its rotation to the full grid). The angles are fixed, so they are non-persistent
buffers (Meta's state dict may also hold them as `attn.freqs_cis`; the family carries those)."""

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .. import cpu_int8
from ..common import (
    drop_path,
    set_drop_path_rates,
    use_checkpointing,
    window_partition,
    window_unpartition,
)
from . import cpu_blocks


def rope_angles(head_dim: int, side: int, *, theta: float, scale: float) -> torch.Tensor:
    """side*side x head_dim/2 rotation angles of a square grid (row-major tokens)."""
    quarter = head_dim // 4
    freqs = 1.0 / theta ** (torch.arange(0, head_dim, 4)[:quarter].float() / head_dim)
    index = torch.arange(side * side, dtype=torch.float32)
    col, row = (index % side) * scale, torch.div(index, side, rounding_mode="floor") * scale
    return torch.cat([torch.outer(col, freqs), torch.outer(row, freqs)], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate channel pairs of x (... x L x head_dim) by the angles whose cos / sin are
    L x head_dim/2."""
    pairs = x.float().unflatten(-1, (-1, 2))
    a, b = pairs[..., 0], pairs[..., 1]
    out = torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1)
    return out.flatten(-2).type_as(x)


class Attention(nn.Module):
    """Multi-head self-attention over a square B x S x S x C map, with RoPE on q and k."""

    def __init__(
        self, dim: int, *, num_heads: int, side: int, rope_theta: float, rope_scale: float
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        angles = rope_angles(dim // num_heads, side, theta=rope_theta, scale=rope_scale)
        self.register_buffer("rope_cos", angles.cos(), persistent=False)
        self.register_buffer("rope_sin", angles.sin(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        qkv = cpu_int8.call(self.qkv, x).reshape(b, h * w, 3, self.num_heads, -1)
        if cpu_blocks.attention_serves(qkv):  # bf16 CPU inference: chunked, without SDPA
            x = cpu_blocks.rope_attention(qkv, self.rope_cos, self.rope_sin)
            return cpu_int8.call(self.proj, x.reshape(b, h, w, c))
        qkv = qkv.permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q, k = (
            apply_rope(q, self.rope_cos, self.rope_sin),
            apply_rope(k, self.rope_cos, self.rope_sin),
        )
        x = F.scaled_dot_product_attention(q, k, v)
        return cpu_int8.call(self.proj, x.transpose(1, 2).reshape(b, h, w, c))


class Mlp(nn.Module):
    """timm's Mlp as the ViT uses it: fc1, GELU, fc2."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return cpu_int8.call(self.fc2, cpu_int8.call(self.fc1, x, self.act))


class Block(nn.Module):
    """Pre-norm transformer block; window > 0: attention inside non-overlapping windows."""

    def __init__(
        self,
        dim: int,
        *,
        num_heads: int,
        mlp_dim: int,
        window: int,
        grid: int,
        rope_theta: float,
        rope_window: int,
    ) -> None:
        super().__init__()
        side = window if window > 0 else grid
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(
            dim,
            num_heads=num_heads,
            side=side,
            rope_theta=rope_theta,
            rope_scale=rope_window / side,
        )
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, mlp_dim)
        self.window = window
        self.drop_path = 0.0  # stochastic depth of both branches (ViT.set_drop_path_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.norm1(x)
        if self.window > 0:
            size = x.shape[1:3]
            x, padded = window_partition(x, self.window)
            x = window_unpartition(self.attn(x), self.window, padded, size)
        else:
            x = self.attn(x)
        x = shortcut + drop_path(x, self.drop_path, self.training)
        return x + drop_path(self.mlp(self.norm2(x)), self.drop_path, self.training)


class PatchEmbed(nn.Module):
    def __init__(self, patch_size: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=patch_size, stride=patch_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 1)


class ViT(nn.Module):
    """B x 3 x S x S normalised -> B x C x S/p x S/p, the output of the last global block (and,
    with `early_block`, also that block's output, B x S/p x S/p x C: HQ-SAM 1's early feature)."""

    # Opt-in: under CPU bf16 autocast inference, the blocks' linear layers as oneDNN int8 GEMMs
    # (model/cpu_int8.py); no effect on any other path
    int8: bool = False

    def __init__(
        self,
        *,
        img_size: int,
        patch_size: int,
        embed_dim: int,
        depth: int,
        num_heads: int,
        mlp_dim: int,
        window_size: int,
        global_att_blocks: tuple[int, ...],
        pretrain_img_size: int,
        rope_theta: float = 10000.0,
        grad_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        self.grad_checkpointing = grad_checkpointing
        grid = img_size // patch_size
        self.global_att_blocks = tuple(global_att_blocks)
        self.patch_embed = PatchEmbed(patch_size, embed_dim)
        pretrain_grid = pretrain_img_size // patch_size
        self.pos_embed = nn.Parameter(torch.zeros(1, pretrain_grid * pretrain_grid + 1, embed_dim))
        self.ln_pre = nn.LayerNorm(embed_dim)
        self.blocks = nn.ModuleList(
            Block(
                embed_dim,
                num_heads=num_heads,
                mlp_dim=mlp_dim,
                grid=grid,
                rope_theta=rope_theta,
                window=0 if i in self.global_att_blocks else window_size,
                rope_window=window_size,
            )
            for i in range(depth)
        )

    def set_drop_path_rate(self, rate: float) -> None:
        """Stochastic depth rising linearly over the blocks from 0 to `rate` (training mode only;
        0, the default, none), by Hiera's rule (SAM 3's ViT has the same drop_path_rate)."""
        set_drop_path_rates(self.blocks, rate)

    def _position_embedding(self, h: int, w: int) -> torch.Tensor:
        """The pretraining grid's embedding (cls slot dropped) tiled over h x w: 1 x h x w x C."""
        pos = self.pos_embed[:, 1:]
        side = int(pos.shape[1] ** 0.5)
        pos = pos.reshape(1, side, side, -1)
        if (side, side) != (h, w):
            pos = pos.repeat(1, h // side + 1, w // side + 1, 1)[:, :h, :w]
        return pos

    def forward(self, x: torch.Tensor, early_block: int | None = None):
        x = self.patch_embed(x)
        x = self.ln_pre(x + self._position_embedding(*x.shape[1:3]))
        recompute = use_checkpointing(self, x)
        early = None
        blocks = self.blocks[: self.global_att_blocks[-1] + 1]
        int8 = cpu_int8.serves(self, x)
        if cpu_blocks.serves(blocks, x):  # bf16 CPU inference
            x, early = cpu_blocks.run_blocks(blocks, x, early_block, cpu_blocks.BF16, int8)
        else:
            with cpu_int8.scope(int8):
                for i, block in enumerate(blocks):
                    x = checkpoint(block, x, use_reentrant=False) if recompute else block(x)
                    if i == early_block:
                        early = x
        out = x.permute(0, 3, 1, 2)
        return out if early_block is None else (out, early)
