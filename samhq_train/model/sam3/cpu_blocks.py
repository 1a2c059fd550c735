"""bf16 CPU inference of SAM 3's ViT blocks (CPU bf16 autocast, no autograd).

RoPE attention (`rope_attention`, also what the plain Attention runs on bf16 CPU inference
operands): q and k are rotated in fp32 as complex products by the angles (one copy in, one product,
one copy out to head-contiguous bf16, the softmax scale folded into q's rotation), v is made
head-contiguous, and the attention runs as cpu_kernels.chunked_attention (per window or image,
group of heads and chunk of query rows: one product, softmax in place, one product) instead of
SDPA's CPU kernel, which ran these shapes at about 60 % of the batched products' rate.

The blocks (`run_blocks`, served by ViT.forward when `serves` says so) do the plain blocks'
arithmetic with cpu_kernels: the fp32 residual stream is updated in place, each LayerNorm runs in
fp32 and is cast once to bf16, windowed blocks partition the bf16 normed tokens (not the fp32 ones)
and add proj's output back through the unpartitioned view, and the linear layers run as oneDNN's
`mkldnn._linear_pointwise` with bias and the MLP's GELU inside the GEMM (FUSED_LINEAR; F.linear
and F.gelu otherwise, where the outputs equal the plain blocks' bit for bit), or as int8 GEMMs
(cpu_int8). Large temporaries reuse one Workspace per forward. Training, fp32, tracing, compiling,
LoRA or hooked layers keep the plain blocks (tests/model/test_sam3_cpu_blocks.py).
"""

from __future__ import annotations

import torch
from torch import nn

from .. import cpu_kernels
from ..common import Workspace, window_partition

BF16 = cpu_kernels.BF16
# A/B switches (profiling scripts, tests): the blocks at all, oneDNN's fused linear layers, the
# chunked RoPE attention (also in the plain blocks; off: rope then SDPA)
ENABLED = True
FUSED_LINEAR = True
CHUNKED_ATTENTION = True


def attention_serves(qkv: torch.Tensor) -> bool:
    """Whether the plain Attention's bf16 operands take rope_attention (CPU inference)."""
    return CHUNKED_ATTENTION and cpu_kernels.attention_serves(qkv)


def plain_block(block: nn.Module) -> bool:
    """The block's layers are the plain ones this module reads the weights of (cpu_kernels)."""
    linears = (block.attn.qkv, block.attn.proj, block.mlp.fc1, block.mlp.fc2)
    return cpu_kernels.plain_block(block, linears)


def serves(blocks: nn.ModuleList, x: torch.Tensor) -> bool:
    """Whether the ViT's blocks run here for this input (fp32 B x H x W x C tokens)."""
    return ENABLED and cpu_kernels.blocks_serve(blocks, x, plain_block)


def run_blocks(
    blocks: nn.ModuleList,
    x: torch.Tensor,
    early_index: int | None = None,
    dtype: torch.dtype = BF16,
    int8: bool = False,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """x: B x H x W x C fp32 (updated in place) -> (last block's output, block `early_index`'s
    or None), cpu_kernels.run_stack with this module's blocks. `dtype`: the products' operands
    (bf16; fp32 in tests). `int8`: the linear layers as oneDNN int8 GEMMs (cpu_int8)."""
    return cpu_kernels.run_stack(blocks, x, block_forward, early_index, dtype, int8)


def block_forward(
    block: nn.Module, x: torch.Tensor, dtype: torch.dtype, workspace: Workspace, int8: bool
) -> None:
    """One pre-norm block on B x H x W x C fp32 tokens, in place."""
    b, h, w, c = x.shape
    tokens = x.view(-1, c)
    y = cpu_kernels.layer_norm(tokens, block.norm1, dtype, workspace).view(b, h, w, c)
    if block.window > 0:
        windows, _ = window_partition(y, block.window)
        out = attention(block.attn, windows, workspace, int8)
        cpu_kernels.add_windows(x, out, block.window)
    else:
        tokens.add_(attention(block.attn, y, workspace, int8).view(-1, c))
    hidden = cpu_kernels.layer_norm(tokens, block.norm2, dtype, workspace)
    hidden = linear(block.mlp.fc1, hidden, workspace, int8, gelu=True)
    tokens.add_(linear(block.mlp.fc2, hidden, workspace, int8))


def attention(attn: nn.Module, x: torch.Tensor, workspace: Workspace, int8: bool) -> torch.Tensor:
    """Attention over each N x S x S x C map of normed tokens -> proj's output, same shape."""
    n, h, w, c = x.shape
    qkv = linear(attn.qkv, x.reshape(-1, c), workspace, int8)
    qkv = qkv.view(n, h * w, 3, attn.num_heads, -1)
    out = rope_attention(qkv, attn.rope_cos, attn.rope_sin, workspace)
    return linear(attn.proj, out.view(-1, c), workspace, int8).view(n, h, w, c)


def linear(
    layer: nn.Linear,
    x: torch.Tensor,
    workspace: Workspace,
    int8: bool,
    gelu: bool = False,
) -> torch.Tensor:
    return cpu_kernels.linear(x, layer, gelu, int8, workspace, fused=FUSED_LINEAR)


def rope_attention(
    qkv: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    workspace: Workspace | None = None,
) -> torch.Tensor:
    """qkv N x L x 3 x heads x head_dim (bf16), the rotation's cos / sin L x head_dim/2 ->
    softmax(rope(q) rope(k)^T / sqrt(head_dim)) v as N x L x heads x head_dim."""
    n, length, _, heads, dim = qkv.shape
    q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # N x heads x L x head_dim views
    angles = torch.complex(cos, sin)
    q = rotate(q, angles * dim**-0.5, "q", workspace)
    k = rotate(k, angles, "k", workspace)
    v = cpu_kernels.new_empty(workspace, "v", v.shape, v).copy_(v)
    rows = cpu_kernels.chunk_rows(length, length, v.element_size())
    return cpu_kernels.chunked_attention(q, k, v, rows, workspace)


def rotate(
    x: torch.Tensor, angles: torch.Tensor, name: str, workspace: Workspace | None
) -> torch.Tensor:
    """x (N x heads x L x head_dim, bf16, any strides) with channel pairs (2i, 2i+1) rotated by
    `angles` (complex, L x head_dim/2: e^(i angle), times any scale), computed in fp32 -> a
    head-contiguous bf16 tensor."""
    pairs = cpu_kernels.new_empty(workspace, "rope", x.shape, x.new_empty((), dtype=torch.float32))
    pairs.copy_(x)
    complex_pairs = torch.view_as_complex(pairs.unflatten(-1, (-1, 2)))
    complex_pairs.mul_(angles)
    return cpu_kernels.new_empty(workspace, name, x.shape, x).copy_(pairs)
