"""Parameter-only shells of SAM 2's video parts: the memory attention and the memory encoder.

They exist so that official SAM 2.1 / HQ-SAM 2 checkpoints load strictly and save back with
every key (official names and shapes). Nothing here has a forward: image segmentation does not
use memory. Submodule order follows the official classes so state dicts list keys in the same
order.
"""

import torch
from torch import nn

from ..common import LayerNorm2d
from ..two_way_transformer import Attention


class MemoryAttentionLayer(nn.Module):
    """Shell: self_attn (RoPE attention in the official model, same parameters), cross_attn_image
    (keys / values at the memory width), linear1 / linear2 and three norms."""

    def __init__(
        self, *, d_model: int, dim_feedforward: int, num_heads: int, kv_in_dim: int
    ) -> None:
        super().__init__()
        self.self_attn = Attention(d_model, num_heads)
        self.cross_attn_image = Attention(d_model, num_heads, kv_in_dim=kv_in_dim)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.norm3 = nn.LayerNorm(d_model)


class MemoryAttention(nn.Module):
    """Shell: `num_layers` MemoryAttentionLayers and a final norm."""

    def __init__(
        self, *, d_model: int, num_layers: int, dim_feedforward: int, num_heads: int, kv_in_dim: int
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            MemoryAttentionLayer(
                d_model=d_model,
                dim_feedforward=dim_feedforward,
                num_heads=num_heads,
                kv_in_dim=kv_in_dim,
            )
            for _ in range(num_layers)
        )
        self.norm = nn.LayerNorm(d_model)


class MaskDownSampler(nn.Module):
    """Shell: (conv, LayerNorm2d, GELU) until total_stride, then a 1 x 1 conv to embed_dim."""

    def __init__(
        self, *, embed_dim: int, kernel_size: int, stride: int, padding: int, total_stride: int = 16
    ) -> None:
        super().__init__()
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


class CXBlock(nn.Module):
    """Shell of the ConvNeXt block of the memory fuser (gamma is the layer scale)."""

    def __init__(self, *, dim: int, kernel_size: int, padding: int, use_dwconv: bool) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), 1e-6))
        self.dwconv = nn.Conv2d(
            dim, dim, kernel_size=kernel_size, padding=padding, groups=dim if use_dwconv else 1
        )
        self.norm = LayerNorm2d(dim)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.pwconv2 = nn.Linear(4 * dim, dim)


class Fuser(nn.Module):
    def __init__(
        self, *, num_layers: int, dim: int, kernel_size: int, padding: int, use_dwconv: bool
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            CXBlock(dim=dim, kernel_size=kernel_size, padding=padding, use_dwconv=use_dwconv)
            for _ in range(num_layers)
        )


class MemoryEncoder(nn.Module):
    """Shell: mask_downsampler, pix_feat_proj, fuser, and out_proj when out_dim != in_dim."""

    def __init__(
        self, *, in_dim: int, out_dim: int, mask_downsampler: MaskDownSampler, fuser: Fuser
    ) -> None:
        super().__init__()
        self.mask_downsampler = mask_downsampler
        self.pix_feat_proj = nn.Conv2d(in_dim, in_dim, kernel_size=1)
        self.fuser = fuser
        self.out_proj = nn.Conv2d(in_dim, out_dim, kernel_size=1) if out_dim != in_dim else None
