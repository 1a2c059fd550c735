"""bf16 CPU inference of SAM 2.1's Hiera blocks (CPU bf16 autocast, no autograd).

The blocks (`run_blocks`, served by Hiera.forward when `serves` says so) do the plain
MultiScaleBlocks' arithmetic with cpu_kernels: each LayerNorm runs in the stream's dtype and is
cast once to bf16, windowed blocks partition the bf16 normed tokens (not fp32 ones) and add proj's
output back through a view of the windows, residual adds are in place, and the linear layers run
as oneDNN's `mkldnn._linear_pointwise` with bias and the MLP's GELU inside the GEMM (FUSED_LINEAR;
F.linear and F.gelu otherwise, where the outputs equal the plain blocks' bit for bit), or as int8
GEMMs (cpu_int8). The attention is cpu_kernels.attention, as in the plain blocks.

The residual stream keeps the plain blocks' dtype under autocast: fp32 (patch embedding plus the
fp32 position embedding) up to the first stage transition, bf16 from there on (a transition's
shortcut is its projection's bf16 output, max-pooled). At a transition the stream is a new, smaller
tensor: proj of the normed tokens, pooled; q is max-pooled within each window straight from qkv's
output (a strided view; the max is exact, so any order gives the plain pool's values), and the
pooled queries attend to all of the window's keys. Training, fp32, tracing, compiling, LoRA or
hooked layers keep the plain blocks (tests/model/test_sam2_cpu_blocks.py).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.modules.utils import _pair

from .. import cpu_kernels
from ..common import Workspace

BF16 = cpu_kernels.BF16
# A/B switches (profiling scripts, tests): the blocks at all, oneDNN's fused linear layers
ENABLED = True
FUSED_LINEAR = True


def strided_pool(block: nn.Module) -> bool:
    """The block's query pool (if any) is its attention's too, and a plain max pool over
    q_stride patches (kernel = stride, no padding or dilation, floor), which max_pool computes."""
    pool = block.pool
    if pool is None:
        return block.attn.q_pool is None
    return (
        type(pool) is nn.MaxPool2d
        and block.attn.q_pool is pool
        and _pair(pool.kernel_size) == _pair(pool.stride) == tuple(block.q_stride)
        and _pair(pool.padding) == (0, 0)
        and _pair(pool.dilation) == (1, 1)
        and not (pool.ceil_mode or pool.return_indices)
    )


def plain_block(block: nn.Module) -> bool:
    """The block's layers are the plain ones this module reads the weights of (cpu_kernels): a
    two-layer GELU MLP, and the query pool is the strided max pool."""
    attn, mlp = block.attn, block.mlp
    linears = (attn.qkv, attn.proj, *mlp.layers, *([] if block.proj is None else [block.proj]))
    return (
        cpu_kernels.plain_block(block, linears)
        and len(mlp.layers) == 2
        and not mlp.sigmoid_output
        and strided_pool(block)
    )


def serves(blocks: nn.ModuleList, x: torch.Tensor) -> bool:
    """Whether Hiera's blocks run here for this input (fp32 B x H x W x C tokens)."""
    return ENABLED and cpu_kernels.blocks_serve(blocks, x, plain_block)


def run_blocks(
    blocks: nn.ModuleList,
    x: torch.Tensor,
    stage_ends: list[int],
    dtype: torch.dtype = BF16,
    int8: bool = False,
) -> list[torch.Tensor]:
    """x: B x H x W x C fp32 (its own tensor, updated in place) -> the outputs of the blocks in
    `stage_ends`, B x H_i x W_i x C_i each, cpu_kernels.stack_outputs with this module's blocks.
    `dtype`: the products' operands (bf16; fp32 in tests, where the outputs equal the plain fp32
    blocks'). `int8`: the linear layers as oneDNN int8 GEMMs (cpu_int8)."""
    return cpu_kernels.stack_outputs(blocks, x, block_forward, stage_ends, dtype, int8)[1]


def block_forward(
    block: nn.Module, x: torch.Tensor, dtype: torch.dtype, workspace: Workspace, int8: bool
) -> torch.Tensor | None:
    """One pre-norm block on B x H x W x C tokens: x updated in place (None returned), or at a
    stage transition the new, pooled stream."""
    b, h, w, c = x.shape
    y = cpu_kernels.layer_norm(x.view(-1, c), block.norm1, dtype, workspace).view(b, h, w, c)
    stream = x
    if block.proj is not None:  # a stage transition: the shortcut is y projected, then pooled
        shortcut = linear(block.proj, y.view(-1, c), workspace, int8).view(b, h, w, -1)
        stream = shortcut if block.q_stride is None else max_pool(shortcut, block.q_stride)
    add_attention(block, y, stream, workspace, int8)
    tokens = stream.view(-1, stream.shape[-1])
    hidden = cpu_kernels.layer_norm(tokens, block.norm2, dtype, workspace)
    hidden = linear(block.mlp.layers[0], hidden, workspace, int8, gelu=True)
    tokens.add_(linear(block.mlp.layers[1], hidden, workspace, int8))
    return None if stream is x else stream


def add_attention(
    block: nn.Module, y: torch.Tensor, stream: torch.Tensor, workspace: Workspace, int8: bool
) -> None:
    """stream (B x H' x W' x C', the pooled grid at a transition) += the block's attention over
    the normed tokens y (B x H x W x C), windowed or global."""
    size = block.window_size
    if size == 0:
        stream.add_(attention(block.attn, y, block.q_stride, workspace, int8))
        return
    windows = cpu_kernels.partition(y, size, workspace)
    out = attention(block.attn, windows, block.q_stride, workspace, int8)
    cpu_kernels.add_windows(stream, out, out.shape[1])  # windows shrunk with the pooled queries


def attention(
    attn: nn.Module,
    x: torch.Tensor,
    q_stride: tuple[int, int] | None,
    workspace: Workspace,
    int8: bool,
) -> torch.Tensor:
    """Attention over each N x S x S x C map of normed tokens, its queries max-pooled by
    q_stride when given -> proj's output, N x S' x S' x C'."""
    n, h, w, c = x.shape
    qkv = linear(attn.qkv, x.reshape(-1, c), workspace, int8)
    q, k, v = qkv.view(n, h, w, 3, attn.num_heads, -1).unbind(3)  # N x S x S x heads x C/heads
    if q_stride is not None:
        q = max_pool(q, q_stride)
    out = cpu_kernels.attention(q.flatten(1, 2), k.flatten(1, 2), v.flatten(1, 2), workspace)
    out = linear(attn.proj, out.view(-1, attn.proj.in_features), workspace, int8)
    return out.view(n, *q.shape[1:3], -1)


def max_pool(x: torch.Tensor, stride: tuple[int, int]) -> torch.Tensor:
    """Max over stride patches of dims 1 and 2 of x (B x H x W x ..., any strides; the last
    incomplete rows and columns dropped, as MaxPool2d does) -> B x H/sh x W/sw x ..., contiguous:
    a copy of one strided view of the patches' first tokens, then torch.maximum with the others
    in place (about 10x faster than amax over the patch dims of a strided view, 2x the plain
    blocks' copy then MaxPool2d; the max is exact, so the values are the same)."""
    sh, sw = stride
    h, w = x.shape[1] // sh * sh, x.shape[2] // sw * sw
    parts = [x[:, i:h:sh, j:w:sw] for i in range(sh) for j in range(sw)]
    out = parts[0].contiguous()
    for part in parts[1:]:
        torch.maximum(out, part, out=out)
    return out


def linear(
    layer: nn.Linear, x: torch.Tensor, workspace: Workspace, int8: bool, gelu: bool = False
) -> torch.Tensor:
    return cpu_kernels.linear(x, layer, gelu, int8, workspace, fused=FUSED_LINEAR)
