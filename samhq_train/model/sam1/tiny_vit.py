"""TinyViT image encoder of Light HQ-SAM (MobileSAM's distilled backbone).

A conv stage (MBConv blocks) then windowed-attention stages; each stage but the last ends in a
patch merging, which halves the resolution except into the last stage, so the output stays at
S/16. Returns the 256-channel embedding and the early feature of SAM-HQ's HQ path: the output of
stage 1 (after its patch merging), B x S/16 x S/16 x C2.

Parameter names are the official ones (`segment_anything_hq.modeling.tiny_vit_sam.TinyViT`),
including the classification head that SAM never runs, so official files load strictly.
"""

from contextlib import contextmanager, nullcontext

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..common import LayerNorm2d, use_checkpointing, window_partition, window_unpartition


class TinyViT(nn.Module):
    early_layer_index = 1  # Light HQ-SAM fuses the output of layers[1]

    def __init__(
        self,
        *,
        img_size: int,
        embed_dims: tuple[int, ...],
        depths: tuple[int, ...],
        num_heads: tuple[int, ...],
        window_sizes: tuple[int, ...],
        mlp_ratio: float,
        mbconv_expand_ratio: float,
        local_conv_size: int,
        out_chans: int,
        in_chans: int = 3,
        num_classes: int = 1000,  # the official (unused) classification head, kept for its keys
        grad_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        n_stages = len(depths)
        if n_stages < 3:
            raise ValueError(
                "TinyViT needs at least 3 stages (a conv stage, the early-feature stage, more)"
            )
        self.img_size = img_size
        self.grad_checkpointing = grad_checkpointing  # recompute each block in backward (settable)
        self.patch_embed = PatchEmbed(in_chans, embed_dims[0])
        self.layers = nn.ModuleList()
        for i in range(n_stages):
            merge = None
            if i < n_stages - 1:  # the merge into the last stage keeps the resolution (S/16)
                stride = 1 if i == n_stages - 2 else 2
                merge = PatchMerging(embed_dims[i], embed_dims[i + 1], stride=stride)
            if i == 0:
                layer = ConvLayer(embed_dims[0], depths[0], mbconv_expand_ratio, merge)
            else:
                layer = BasicLayer(
                    embed_dims[i],
                    depths[i],
                    num_heads=num_heads[i],
                    window_size=window_sizes[i],
                    mlp_ratio=mlp_ratio,
                    local_conv_size=local_conv_size,
                    downsample=merge,
                )
            self.layers.append(layer)
        # the ImageNet classifier of TinyViT: unused by SAM, kept for strict loading of official files
        self.norm_head = nn.LayerNorm(embed_dims[-1])
        self.head = nn.Linear(embed_dims[-1], num_classes) if num_classes > 0 else nn.Identity()
        self.neck = nn.Sequential(
            nn.Conv2d(embed_dims[-1], out_chans, kernel_size=1, bias=False),
            LayerNorm2d(out_chans),
            nn.Conv2d(out_chans, out_chans, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(out_chans),
        )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: B x 3 x S x S normalised -> (B x out_chans x S/16 x S/16, early B x S/16 x S/16 x C2)."""
        x = self.patch_embed(x)  # stages take and return B x C x H x W
        recompute = use_checkpointing(self, x)
        for i, layer in enumerate(self.layers):
            x = layer(x, recompute)
            if i == self.early_layer_index:
                early = x.permute(0, 2, 3, 1)
        return self.neck(x), early


class Conv2dBN(nn.Sequential):
    """Conv (no bias) + BatchNorm, as `c` and `bn` (the official names)."""

    def __init__(
        self, in_chans: int, out_chans: int, kernel_size: int = 1, stride: int = 1, groups: int = 1
    ):
        super().__init__()
        self.add_module(
            "c",
            nn.Conv2d(
                in_chans,
                out_chans,
                kernel_size,
                stride,
                kernel_size // 2,
                groups=groups,
                bias=False,
            ),
        )
        self.add_module("bn", nn.BatchNorm2d(out_chans))


class PatchEmbed(nn.Module):
    """Two stride-2 3x3 convs: B x 3 x S x S -> B x C x S/4 x S/4."""

    def __init__(self, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.seq = nn.Sequential(
            Conv2dBN(in_chans, embed_dim // 2, 3, stride=2),
            nn.GELU(),
            Conv2dBN(embed_dim // 2, embed_dim, 3, stride=2),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.seq(x)


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, 3x3 depthwise, 1x1 project, residual, GELU."""

    def __init__(self, dim: int, expand_ratio: float) -> None:
        super().__init__()
        hidden = int(dim * expand_ratio)
        self.conv1 = Conv2dBN(dim, hidden)
        self.conv2 = Conv2dBN(hidden, hidden, 3, groups=hidden)
        self.conv3 = Conv2dBN(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.gelu(self.conv2(F.gelu(self.conv1(x))))
        return F.gelu(self.conv3(y) + x)


class PatchMerging(nn.Module):
    """1x1 conv, 3x3 depthwise conv (stride 1 or 2), 1x1 conv: B x C x H x W -> B x C' x H' x W'."""

    def __init__(self, dim: int, out_dim: int, *, stride: int) -> None:
        super().__init__()
        self.conv1 = Conv2dBN(dim, out_dim)
        self.conv2 = Conv2dBN(out_dim, out_dim, 3, stride=stride, groups=out_dim)
        self.conv3 = Conv2dBN(out_dim, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(F.gelu(self.conv2(F.gelu(self.conv1(x)))))


class ConvLayer(nn.Module):
    def __init__(
        self, dim: int, depth: int, expand_ratio: float, downsample: nn.Module | None
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(MBConv(dim, expand_ratio) for _ in range(depth))
        self.downsample = downsample

    def forward(self, x: torch.Tensor, grad_checkpointing: bool = False) -> torch.Tensor:
        for block in self.blocks:
            x = checkpoint_block(block, x) if grad_checkpointing else block(x)
        return x if self.downsample is None else self.downsample(x)


class BasicLayer(nn.Module):
    """TinyViT blocks on B x H x W x C tokens, then the optional patch merging (B x C x H x W in/out)."""

    def __init__(
        self,
        dim: int,
        depth: int,
        *,
        num_heads: int,
        window_size: int,
        mlp_ratio: float,
        local_conv_size: int,
        downsample: nn.Module | None,
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            TinyViTBlock(
                dim,
                num_heads=num_heads,
                window_size=window_size,
                mlp_ratio=mlp_ratio,
                local_conv_size=local_conv_size,
            )
            for _ in range(depth)
        )
        self.downsample = downsample

    def forward(self, x: torch.Tensor, grad_checkpointing: bool = False) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1).contiguous()
        for block in self.blocks:
            x = checkpoint_block(block, x) if grad_checkpointing else block(x)
        x = x.permute(0, 3, 1, 2)
        return x if self.downsample is None else self.downsample(x)


def checkpoint_block(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """block(x), recomputed in backward instead of keeping its activations. The recomputation
    leaves BatchNorm running statistics as the forward pass left them (updated once)."""
    contexts = lambda: (nullcontext(), keep_batchnorm_stats(block))  # noqa: E731 (forward, recompute)
    return checkpoint(block, x, use_reentrant=False, context_fn=contexts)


@contextmanager
def keep_batchnorm_stats(module: nn.Module):
    norms = [
        m for m in module.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training
    ]
    saved = [(b, b.clone()) for m in norms for b in m.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for buffer, value in saved:
                buffer.copy_(value)


class TinyViTBlock(nn.Module):
    """Windowed attention (zero-padded windows), depthwise local conv, MLP; residuals around
    attention and MLP. Works on B x H x W x C."""

    def __init__(
        self, dim: int, *, num_heads: int, window_size: int, mlp_ratio: float, local_conv_size: int
    ):
        super().__init__()
        self.window_size = window_size
        self.attn = Attention(dim, num_heads=num_heads, window_size=window_size)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.local_conv = Conv2dBN(dim, dim, local_conv_size, groups=dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        windows, padded_hw = window_partition(x, self.window_size)
        windows = self.attn(windows.reshape(windows.shape[0], -1, c)).view_as(windows)
        x = x + window_unpartition(windows, self.window_size, padded_hw, (h, w))
        x = self.local_conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        return x + self.mlp(x)


class Attention(nn.Module):
    """Pre-norm multi-head attention over one window's tokens, with a learned bias per head and
    per |dy|, |dx| offset (LeViT). Offsets are numbered |dy| * window + |dx|, the official order."""

    def __init__(self, dim: int, *, num_heads: int, window_size: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.attention_biases = nn.Parameter(torch.zeros(num_heads, window_size * window_size))
        ys, xs = torch.meshgrid(torch.arange(window_size), torch.arange(window_size), indexing="ij")
        ys, xs = ys.flatten(), xs.flatten()
        offsets = (ys[:, None] - ys[None, :]).abs() * window_size + (
            xs[:, None] - xs[None, :]
        ).abs()
        self.register_buffer("attention_bias_idxs", offsets, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: B x N x C tokens of one window each -> B x N x C."""
        b, n, _ = x.shape
        qkv = self.qkv(self.norm(x)).view(
            b, n, self.num_heads, 3 * self.head_dim
        )  # per head: q, k, v
        q, k, v = qkv.permute(0, 2, 1, 3).split(self.head_dim, dim=3)
        bias = self.attention_biases[:, self.attention_bias_idxs].to(q.dtype)  # heads x N x N
        x = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return self.proj(x.transpose(1, 2).reshape(b, n, -1))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(self.norm(x))))
