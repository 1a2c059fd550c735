"""Hiera trunk of SAM 2 (hieradet): windowed / global attention blocks, query pooling at each
stage transition, and the windowed absolute position embedding (a background embedding
interpolated to the feature size plus a window embedding tiled over it)."""

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from .. import cpu_int8, cpu_kernels
from ..common import (
    drop_path,
    set_drop_path_rates,
    use_checkpointing,
    window_partition,
    window_unpartition,
)
from ..inference_constants import ConstantCache, parameters_key
from . import cpu_blocks
from .layers import MLP

# A/B switch (profiling scripts, tests): bf16 CPU inference attention of the plain blocks as
# cpu_kernels.attention (off: SDPA, whose CPU kernel ran Hiera-L's shapes 1.4-1.7x slower); the
# CPU blocks (cpu_blocks.py, which Hiera.forward takes when they serve) always take it
CHUNKED_ATTENTION = True


def _max_pool(x: torch.Tensor, pool: nn.Module | None) -> torch.Tensor:
    """Pool a B x H x W x C map over H and W (identity without a pool)."""
    if pool is None:
        return x
    return pool(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)


class MultiScaleAttention(nn.Module):
    """Self-attention over a B x H x W x C map whose queries may be pooled (stage transitions)."""

    def __init__(
        self, dim: int, dim_out: int, num_heads: int, q_pool: nn.Module | None = None
    ) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.q_pool = q_pool
        self.qkv = nn.Linear(dim, dim_out * 3)
        self.proj = nn.Linear(dim_out, dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, _ = x.shape
        q, k, v = cpu_int8.call(self.qkv, x).reshape(b, h * w, 3, self.num_heads, -1).unbind(2)
        if self.q_pool is not None:
            q = _max_pool(q.reshape(b, h, w, -1), self.q_pool)
            h, w = q.shape[1:3]
            q = q.reshape(b, h * w, self.num_heads, -1)
        if CHUNKED_ATTENTION and cpu_kernels.attention_serves(q, k, v):  # bf16 CPU inference
            x = cpu_kernels.attention(q, k, v)
        else:
            x = F.scaled_dot_product_attention(
                q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
            ).transpose(1, 2)
        return cpu_int8.call(self.proj, x.reshape(b, h, w, -1))


class MultiScaleBlock(nn.Module):
    """Pre-norm transformer block on B x H x W x C; window_size 0 means global attention."""

    def __init__(
        self,
        *,
        dim: int,
        dim_out: int,
        num_heads: int,
        window_size: int,
        q_stride: tuple[int, int] | None = None,
        mlp_ratio: float = 4.0,
    ) -> None:
        super().__init__()
        self.window_size = window_size
        self.q_stride = q_stride
        pool = None if q_stride is None else nn.MaxPool2d(kernel_size=q_stride, stride=q_stride)
        self.pool = pool
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = MultiScaleAttention(dim, dim_out, num_heads, q_pool=pool)
        self.norm2 = nn.LayerNorm(dim_out, eps=1e-6)
        self.mlp = MLP(dim_out, int(dim_out * mlp_ratio), dim_out, 2, activation=nn.GELU)
        self.proj = nn.Linear(dim, dim_out) if dim != dim_out else None
        self.drop_path = 0.0  # stochastic depth of both branches (Hiera.set_drop_path_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.norm1(x)
        if self.proj is not None:
            shortcut = _max_pool(cpu_int8.call(self.proj, x), self.pool)
        size = self.window_size
        hw = x.shape[1:3]
        if size > 0:
            x, padded = window_partition(x, size)
        x = self.attn(x)
        if size > 0:
            if self.q_stride is not None:  # the windows shrank with the pooled queries
                size //= self.q_stride[0]
                hw = shortcut.shape[1:3]
                padded = tuple(n + (size - n % size) % size for n in hw)
            x = window_unpartition(x, size, padded, hw)
        x = shortcut + drop_path(x, self.drop_path, self.training)
        return x + drop_path(self.mlp(self.norm2(x)), self.drop_path, self.training)


class PatchEmbed(nn.Module):
    """7 x 7 stride-4 convolution: B x 3 x S x S -> B x S/4 x S/4 x C."""

    def __init__(self, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, embed_dim, kernel_size=7, stride=4, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 1)


class Hiera(nn.Module):
    """Hierarchical ViT; returns one B x C_i x H_i x W_i map per stage, highest resolution first."""

    # Opt-in: under CPU bf16 autocast inference, the blocks' linear layers as oneDNN int8 GEMMs
    # (model/cpu_int8.py); no effect on any other path
    int8: bool = False

    def __init__(
        self,
        *,
        embed_dim: int,
        num_heads: int,
        stages: tuple[int, ...],
        global_att_blocks: tuple[int, ...],
        window_pos_embed_bkg_spatial_size: tuple[int, int],
        window_spec: tuple[int, ...],
        q_pool: int = 3,
        q_stride: tuple[int, int] = (2, 2),
        dim_mul: float = 2.0,
        head_mul: float = 2.0,
        grad_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        if len(stages) != len(window_spec):
            raise ValueError(f"stages {stages} and window_spec {window_spec} differ in length")
        self.grad_checkpointing = grad_checkpointing  # recompute each block in backward (settable)
        self.stage_ends = [sum(stages[: i + 1]) - 1 for i in range(len(stages))]
        pool_blocks = [end + 1 for end in self.stage_ends[:-1]][:q_pool]
        self.patch_embed = PatchEmbed(embed_dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, embed_dim, *window_pos_embed_bkg_spatial_size))
        self.pos_embed_window = nn.Parameter(
            torch.zeros(1, embed_dim, window_spec[0], window_spec[0])
        )
        self.blocks = nn.ModuleList()
        stage = 0
        dim = embed_dim
        for i in range(sum(stages)):
            # the first block of a stage still attends in the previous stage's windows
            window = 0 if i in global_att_blocks else window_spec[stage]
            dim_out = dim
            if i - 1 in self.stage_ends:
                dim_out = int(dim * dim_mul)
                num_heads = int(num_heads * head_mul)
                stage += 1
            self.blocks.append(
                MultiScaleBlock(
                    dim=dim,
                    dim_out=dim_out,
                    num_heads=num_heads,
                    window_size=window,
                    q_stride=q_stride if i in pool_blocks else None,
                )
            )
            dim = dim_out
        self.channel_list = [
            self.blocks[i].norm2.normalized_shape[0] for i in self.stage_ends[::-1]
        ]
        self._constants = ConstantCache()  # the position embedding between inference calls

    def set_drop_path_rate(self, rate: float) -> None:
        """Stochastic depth rising linearly over the blocks from 0 to `rate` (training mode only;
        0, the default, none), as SAM 2's Hiera drop_path_rate."""
        set_drop_path_rates(self.blocks, rate)

    def _position_embedding(self, hw: tuple[int, int]) -> torch.Tensor:
        """1 x H x W x C: background embedding resized to H x W plus the tiled window embedding
        (kept between inference calls: inference_constants)."""
        key = (tuple(hw), parameters_key(self.pos_embed, self.pos_embed_window))
        return self._constants.get(
            "position", key, self.pos_embed.device, lambda: self._make_position_embedding(hw)
        )

    def _make_position_embedding(self, hw: tuple[int, int]) -> torch.Tensor:
        pos = F.interpolate(self.pos_embed, size=hw, mode="bicubic")
        window = self.pos_embed_window
        pos = pos + window.tile([p // q for p, q in zip(pos.shape, window.shape)])
        return pos.permute(0, 2, 3, 1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """B x 3 x S x S -> [B x C x S/4 x S/4, B x 2C x S/8 x S/8, ...]."""
        x = self.patch_embed(x)
        x = x + self._position_embedding(x.shape[1:3])
        int8 = cpu_int8.serves(self, x)
        if cpu_blocks.serves(self.blocks, x):  # bf16 CPU inference
            maps = cpu_blocks.run_blocks(self.blocks, x, self.stage_ends, cpu_blocks.BF16, int8)
            return [m.permute(0, 3, 1, 2) for m in maps]
        outputs = []
        recompute = use_checkpointing(self, x)
        with cpu_int8.scope(int8):
            for i, block in enumerate(self.blocks):
                x = checkpoint(block, x, use_reentrant=False) if recompute else block(x)
                if i in self.stage_ends:
                    outputs.append(x.permute(0, 3, 1, 2))
        return outputs
