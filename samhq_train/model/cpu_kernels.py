"""Pieces of the ViTs' bf16 CPU inference blocks (sam1/, sam3/ and sam2/cpu_blocks.py, the last
Hiera's): when a family's blocks take that path, their block loop (`stack_outputs`), their linear
layers (bias and GELU inside oneDNN's GEMM), their LayerNorms (once, cast once to bf16), windows
(partitioned from the bf16 normed tokens, added back through a view) and their softmax attention
(scores built and used chunk by chunk, each chunk staying in cache; `attention` is that for plain
q, k, v: SAM 2.1's Hiera).

Under CPU bf16 autocast the plain blocks keep the residual stream in fp32 and pay, besides the
matrix products, a fresh tensor per residual add, each linear layer's bias copied into its output
and a separate GELU pass over the MLP's hidden activations; SDPA's CPU kernel runs q k^T and p v
at about 60 % of the rate of plain batched products of the same shapes (bf16, head_dim 64,
1 thread). The families' blocks do the same arithmetic with these pieces.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Collection

import torch
import torch.nn.functional as F
from torch import nn

from . import cpu_int8
from .common import Workspace, window_partition, window_unpartition
from .cpu_int8 import compiling, cpu_bf16_autocast

BF16 = torch.bfloat16
# Scores of one chunk (bytes): small enough to stay in the cores' L2 / L3 between its three steps.
SCORE_CHUNK_BYTES = 4 << 20
# Heads per product: fewer, larger calls (about 1.3x faster on 2 busy threads, SAM 1 global blocks)
HEADS_PER_CHUNK = 4
# Keys per map from which `attention` runs per image and chunk of query rows (else several
# windows per product)
GLOBAL_FROM = 1024
# A/B switch: the fused linear layers read bf16 weights in oneDNN's own layout, reordered once per
# layer and kept (3-15 % faster GEMMs on SAM 3's shapes, the same values; half the fp32 weights'
# memory, held while the layer lives); off: cast from fp32 on every call
PACKED_WEIGHTS = True
# layer -> (cpu_int8.weight_key, bf16 weight in oneDNN's layout, bf16 bias or None)
_packed: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def new_empty(
    workspace: Workspace | None, name: str, shape: tuple[int, ...], like: torch.Tensor
) -> torch.Tensor:
    """A fresh tensor like `like`, or the workspace's buffer `name` (CPU)."""
    return like.new_empty(shape) if workspace is None else workspace.empty(name, shape, like.dtype)


def bf16_inference(x: torch.Tensor, module: nn.Module) -> bool:
    """Whether fp32 tokens x into `module` are CPU bf16 autocast inference: no autograd into x or
    the module's parameters, no tracing or compiling (those keep the plain layers)."""
    if x.device.type != "cpu" or x.dtype != torch.float32:
        return False
    if torch.jit.is_tracing() or compiling() or not cpu_bf16_autocast():
        return False
    return not (
        torch.is_grad_enabled()
        and (x.requires_grad or any(p.requires_grad for p in module.parameters()))
    )


def attention_serves(*tensors: torch.Tensor) -> bool:
    """Whether attention operands (bf16) take the chunked kernels: CPU, no autograd, not traced."""
    q = tensors[0]
    if q.device.type != "cpu" or q.dtype != BF16 or torch.jit.is_tracing() or compiling():
        return False
    return not (torch.is_grad_enabled() and any(t.requires_grad for t in tensors))


def hooked(module: nn.Module) -> bool:
    """A forward hook somewhere in the module expects its layers to be called."""
    return any(m._forward_hooks or m._forward_pre_hooks for m in module.modules())


def exact_gelu(act: nn.Module) -> bool:
    return type(act) is nn.GELU and act.approximate == "none"


def plain_block(block: nn.Module, linears: tuple[nn.Module, ...]) -> bool:
    """The layers a CPU block path reads the weights of (the block's `linears`, norm1, norm2 and
    its MLP's activation) are the plain ones (no LoRA, no other activation), and no forward hook
    expects them to be called."""
    return (
        not hooked(block)
        and all(type(m) is nn.Linear for m in linears)
        and type(block.norm1) is nn.LayerNorm
        and type(block.norm2) is nn.LayerNorm
        and exact_gelu(block.mlp.act)
    )


def blocks_serve(
    blocks: nn.ModuleList, x: torch.Tensor, plain: Callable[[nn.Module], bool]
) -> bool:
    """Whether a family's CPU block path runs a ViT's blocks for this input (fp32 B x H x W x C
    tokens): bf16 CPU inference, and every block `plain` (the layers that path reads)."""
    return bf16_inference(x, blocks) and all(plain(block) for block in blocks)


def run_stack(
    blocks: nn.ModuleList,
    x: torch.Tensor,
    block_forward: Callable[..., torch.Tensor | None],
    early_index: int | None,
    dtype: torch.dtype,
    int8: bool,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """stack_outputs keeping block `early_index`'s output: (last block's output, a copy of block
    `early_index`'s output or None)."""
    keep = () if early_index is None else (early_index,)
    x, kept = stack_outputs(blocks, x, block_forward, keep, dtype, int8)
    return x, kept[0] if kept else None


def stack_outputs(
    blocks: nn.ModuleList,
    x: torch.Tensor,
    block_forward: Callable[..., torch.Tensor | None],
    keep: Collection[int],
    dtype: torch.dtype,
    int8: bool,
) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """A family's CPU block path over a ViT's blocks: `block_forward(block, x, dtype, workspace,
    int8)` updates x (B x H x W x C, its own tensor) in place and returns None, or returns the
    block's output as a new tensor (a block that changes the map's shape), block by block, with
    one Workspace for the forward. Returns (last block's output, copies of the outputs of the
    blocks in `keep`, in block order), in the stream's dtype as under autocast. `int8` only with
    bf16 and where the build has it."""
    int8 = int8 and dtype == BF16 and cpu_int8.available()
    x = x.contiguous()
    kept = []
    workspace = Workspace()
    with torch.autocast("cpu", enabled=False):
        for i, block in enumerate(blocks):
            out = block_forward(block, x, dtype, workspace, int8)
            x = x if out is None else out
            if i in keep:
                kept.append(x.clone())
    return x, kept


def layer_norm(
    x: torch.Tensor, norm: nn.LayerNorm, dtype: torch.dtype, workspace: Workspace
) -> torch.Tensor:
    """fp32 LayerNorm, then one cast to the products' dtype."""
    out = workspace.empty("norm", x.shape, dtype)
    return out.copy_(F.layer_norm(x, norm.normalized_shape, norm.weight, norm.bias, norm.eps))


def partition(x: torch.Tensor, size: int, workspace: Workspace) -> torch.Tensor:
    """common.window_partition of B x H x W x C tokens into N x size x size x C windows, into the
    workspace's buffer when no padding is needed."""
    b, h, w, c = x.shape
    if h % size or w % size:
        return window_partition(x, size)[0]
    grid = x.view(b, h // size, size, w // size, size, c).transpose(2, 3)
    out = workspace.empty("windows", (b, h // size, w // size, size, size, c), x.dtype)
    return out.copy_(grid).view(-1, size, size, c)


def add_windows(x: torch.Tensor, windows: torch.Tensor, size: int) -> None:
    """x (B x H x W x C, contiguous) += common.window_unpartition of the N x size x size x C
    windows (their padded tokens dropped); without padding through a strided view of the
    windows, without a copy."""
    b, h, w, c = x.shape
    if h % size or w % size:
        padded = (h + (-h) % size, w + (-w) % size)
        x.add_(window_unpartition(windows, size, padded, (h, w)))
    else:
        grid = (b, h // size, w // size, size, size, c)
        x.view(b, h // size, size, w // size, size, c).add_(windows.view(grid).transpose(2, 3))


def linear(
    x: torch.Tensor,
    layer: nn.Linear,
    gelu: bool = False,
    int8: bool = False,
    workspace: Workspace | None = None,
    fused: bool = True,
) -> torch.Tensor:
    """layer(x) (then exact GELU) in x's dtype, x 2-D; for bf16 with `fused` the bias and GELU run
    inside oneDNN's GEMM where the build allows; `int8`: as an int8 GEMM (cpu_int8, its buffers
    from the workspace), bf16 out."""
    if int8:
        return cpu_int8.linear(x, layer, gelu, workspace)
    if x.dtype == BF16 and fused and fused_linear_available():
        weight, bias = packed_weight(layer, x.shape[0]) if PACKED_WEIGHTS else plain(layer, BF16)
        attr, algorithm = ("gelu", "none") if gelu else ("none", "")
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, attr, [], algorithm)
    weight, bias = plain(layer, x.dtype)
    out = F.linear(x, weight, bias)
    return F.gelu(out) if gelu else out


def plain(layer: nn.Linear, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The layer's weight and bias in dtype."""
    return layer.weight.to(dtype), None if layer.bias is None else layer.bias.to(dtype)


def packed_weight(layer: nn.Linear, rows: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The layer's bf16 weight in oneDNN's layout (for GEMMs of about `rows` rows; any count
    works) and bf16 bias, made on first use and again whenever the weight or bias changes."""
    key = cpu_int8.weight_key(layer)
    entry = _packed.get(layer)
    if entry is not None and entry[0] == key:
        return entry[1], entry[2]
    with torch.no_grad():
        weight, bias = plain(layer, BF16)
        weight = torch.ops.mkldnn._reorder_linear_weight(weight.detach(), rows)
    bias = None if bias is None else bias.detach()
    _packed[layer] = (key, weight, bias)
    return weight, bias


@functools.cache
def fused_linear_available() -> bool:
    """oneDNN's linear with a fused GELU runs on this build and CPU (probed once on a tiny case)."""
    mkldnn = torch.ops.mkldnn
    ops = ("_linear_pointwise", "_reorder_linear_weight")
    if not (torch.backends.mkldnn.is_available() and all(hasattr(mkldnn, op) for op in ops)):
        return False
    try:
        gen = torch.Generator().manual_seed(0)
        x, weight, bias = (torch.randn(s, generator=gen).to(BF16) for s in ((4, 8), (16, 8), (16,)))
        expected = F.gelu(F.linear(x.float(), weight.float(), bias.float()))
        outs = [
            mkldnn._linear_pointwise(x, w, bias, "gelu", [], "none")
            for w in (weight, mkldnn._reorder_linear_weight(weight, 4))
        ]
    except (RuntimeError, NotImplementedError, TypeError):  # missing kernel, older signature
        return False
    return all(
        out.shape == expected.shape and bool(torch.allclose(out.float(), expected, atol=0.1))
        for out in outs
    )


# bias(image, heads, first query, end query, scores): writes the chunk's bias into scores
# (heads x queries x keys), onto which q k^T is then accumulated
ChunkBias = Callable[[int, slice, int, int, torch.Tensor], None]


def chunked_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    rows: int,
    workspace: Workspace | None = None,
    bias: ChunkBias | None = None,
    heads: int = HEADS_PER_CHUNK,
) -> torch.Tensor:
    """softmax(q k^T (+ bias)) v per image, group of `heads` heads and chunk of `rows`
    query tokens: q (scaled), k, v B x heads x L x C -> B x L x heads x C. Each chunk's scores are
    written by one product (accumulated onto the bias when given), softmaxed in place and
    multiplied by v while in cache."""
    b, n, length, c = q.shape
    out = new_empty(workspace, "heads", (b, length, n, c), q)
    buffer = new_empty(workspace, "scores", (min(n, heads) * rows * k.shape[2],), q)
    for i in range(b):
        for j in range(0, n, heads):
            hs = slice(j, j + heads)
            keys_t, values = k[i, hs].transpose(-1, -2), v[i, hs]
            for r in range(0, length, rows):
                queries = q[i, hs, r : r + rows]
                scores = buffer[: queries.shape[:2].numel() * k.shape[2]]
                scores = scores.view(*queries.shape[:2], k.shape[2])
                if bias is None:
                    torch.bmm(queries, keys_t, out=scores)
                else:
                    bias(i, hs, r, r + queries.shape[1], scores)
                    torch.baddbmm(scores, queries, keys_t, out=scores)
                probs = torch.ops.aten._softmax.out(scores, -1, False, out=scores)
                out[i, r : r + rows, hs] = torch.bmm(probs, values).transpose(0, 1)
    return out


def chunk_rows(
    length: int, keys: int, element_size: int, multiple: int = 1, limit: int = SCORE_CHUNK_BYTES
) -> int:
    """Query rows per chunk: a multiple of `multiple` whose scores for one head fit `limit` bytes
    (at least `multiple`, at most `length`)."""
    rows = limit // (keys * element_size) // multiple * multiple
    return max(multiple, min(length, rows))


def batched_attention(
    queries: torch.Tensor,
    keys: torch.Tensor,
    v: torch.Tensor,
    workspace: Workspace | None = None,
    limit: int = SCORE_CHUNK_BYTES,
) -> torch.Tensor:
    """softmax(queries keys^T) v for a few images (windows) per product, as many as keep one
    product's scores within `limit` bytes: B x heads x L x C' operands (queries scaled), v
    B x heads x L x C -> B x Lq x heads x C."""
    b, n, length, c = queries.shape[0], queries.shape[1], queries.shape[2], v.shape[-1]
    keys_length = keys.shape[2]
    out = new_empty(workspace, "heads", (b, length, n, c), v)
    step = max(1, limit // (n * length * keys_length * v.element_size()))
    buffer = new_empty(workspace, "scores", (min(step, b) * n * length * keys_length,), v)
    for i in range(0, b, step):
        im = slice(i, i + step)
        scores = buffer[: queries[im].shape[0] * n * length * keys_length]
        scores = scores.view(-1, n, length, keys_length)
        torch.matmul(queries[im], keys[im].transpose(-1, -2), out=scores)
        probs = torch.ops.aten._softmax.out(scores, -1, False, out=scores)
        out[im] = torch.matmul(probs, v[im]).transpose(1, 2)
    return out


def attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, workspace: Workspace | None = None
) -> torch.Tensor:
    """softmax(q k^T / sqrt(C)) v of bf16 B x L x heads x C operands (any strides; q may have
    fewer tokens) -> B x Lq x heads x C: q scaled into a head-contiguous copy, k and v made
    head-contiguous; a map of GLOBAL_FROM keys or more in chunks of query rows, windows several
    per product."""
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))
    scaled = new_empty(workspace, "q", q.shape, q)
    q = torch.mul(q, q.shape[-1] ** -0.5, out=scaled)
    k = new_empty(workspace, "k", k.shape, k).copy_(k)
    v = new_empty(workspace, "v", v.shape, v).copy_(v)
    if k.shape[2] >= GLOBAL_FROM:
        rows = chunk_rows(q.shape[2], k.shape[2], v.element_size())
        return chunked_attention(q, k, v, rows, workspace)
    return batched_attention(q, k, v, workspace)
