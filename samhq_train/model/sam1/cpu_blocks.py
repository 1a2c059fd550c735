"""bf16 CPU inference of the SAM ViT's transformer blocks (CPU bf16 autocast, no autograd).

Under autocast the plain blocks keep the residual stream in fp32 and pay, besides the matrix
products, a fresh fp32 tensor per residual add, each linear layer's bias copied into its output, a
separate GELU pass over the MLP's 4C-wide hidden activations, and in windowed blocks the padding and
window partition of the fp32 normed tokens, with qkv and proj run on the padded tokens (64 x 64
tokens padded to 70 x 70 for 14 x 14 windows: 20% more rows). Here, with the same arithmetic:

- the fp32 residual stream is updated in place; each LayerNorm runs in fp32 and is cast once to
  bf16, the operand of the next product (as autocast does);
- bias and GELU run inside oneDNN's GEMM (mkldnn._linear_pointwise) where the build has it
  (F.linear, F.gelu otherwise);
- windowed blocks run qkv on the real tokens and copy its output into window order; a padded token
  gets the qkv bias, which is exactly its qkv (the padding follows norm1 with zeros). The attention
  output is copied back to the real tokens before proj (proj of a padded token is discarded);
- the windows' one-hot attention operands (cpu_attention) are written into one buffer, both
  rel-pos terms from one product; global blocks make q, k, v head-contiguous once.

Served by ImageEncoderViT.forward when `serves` says so; training, fp32, tracing, compiling, LoRA
or other non-plain layers, and the flex kernel keep the plain blocks. Outputs agree with the plain
bf16 path within bf16 rounding (tests/model/test_cpu_blocks.py).
"""

from __future__ import annotations

import torch
from torch import nn

from .. import cpu_kernels
from . import cpu_attention

BF16 = cpu_kernels.BF16
# A/B switches (profiling scripts, tests): the fused blocks at all, oneDNN's fused linear layers
ENABLED = True
FUSED_LINEAR = True
# Tokens per image (or window) from which q, k, v are made head-contiguous before the attention
CONTIGUOUS_HEADS_FROM = 1024


def plain_block(block: nn.Module) -> bool:
    """The block's layers are the plain ones this module reads the weights of (cpu_kernels), and
    its attention is not FlexAttention."""
    linears = (block.attn.qkv, block.attn.proj, block.mlp.lin1, block.mlp.lin2)
    return cpu_kernels.plain_block(block, linears) and block.attn.kernel != "flex"


def serves(blocks: nn.ModuleList, x: torch.Tensor) -> bool:
    """Whether the encoder's blocks run here for this input (fp32 B x H x W x C tokens)."""
    return ENABLED and cpu_kernels.blocks_serve(blocks, x, plain_block)


def run_blocks(
    blocks: nn.ModuleList,
    x: torch.Tensor,
    early_index: int,
    dtype: torch.dtype = BF16,
    int8: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """x: B x H x W x C fp32 (updated in place) -> (last block's output, block `early_index`'s),
    cpu_kernels.run_stack with this module's blocks. `dtype`: the products' operands (bf16; fp32
    in tests, where the result equals the plain fp32 blocks). `int8`: the linear layers as
    oneDNN int8 GEMMs (cpu_int8)."""
    return cpu_kernels.run_stack(blocks, x, block_forward, early_index, dtype, int8)


def block_forward(
    block: nn.Module,
    x: torch.Tensor,
    dtype: torch.dtype,
    workspace: cpu_attention.Workspace,
    int8: bool = False,
) -> None:
    """One pre-norm block on B x H x W x C fp32 tokens, in place."""
    b, h, w, c = x.shape
    tokens = x.view(-1, c)
    y = layer_norm(tokens, block.norm1, dtype, workspace)
    if block.window_size > 0:
        window = block.window_size
        tokens.add_(windowed_attention(block.attn, y, (b, h, w), window, workspace, int8))
    else:
        qkv = linear(y, block.attn.qkv, int8=int8, workspace=workspace)
        out = attention_core(block.attn, qkv, (b, h, w), workspace)
        tokens.add_(linear(out.view(b * h * w, c), block.attn.proj, int8=int8, workspace=workspace))
    hidden = layer_norm(tokens, block.norm2, dtype, workspace)
    hidden = linear(hidden, block.mlp.lin1, gelu=True, int8=int8, workspace=workspace)
    tokens.add_(linear(hidden, block.mlp.lin2, int8=int8, workspace=workspace))


def windowed_attention(
    attn: nn.Module,
    y: torch.Tensor,
    grid: tuple[int, int, int],
    window: int,
    workspace: cpu_attention.Workspace | None = None,
    int8: bool = False,
) -> torch.Tensor:
    """Attention within window x window windows of the B x H x W grid of normed tokens y
    ((B*H*W) x C bf16) -> proj's output for the real tokens, (B*H*W) x C."""
    b, h, w = grid
    qkv = linear(y, attn.qkv, int8=int8, workspace=workspace).view(b, h, w, -1)
    bias = y.new_zeros(qkv.shape[-1]) if attn.qkv.bias is None else attn.qkv.bias.to(y.dtype)
    windows = partition(qkv, window, bias, workspace)  # B x nH x nW x window x window x 3C
    rows = windows.shape[:3].numel()
    qkv_windows = windows.view(rows * window * window, -1)
    out = attention_core(attn, qkv_windows, (rows, window, window), workspace)
    tokens = unpartition(out, window, (b, h, w), workspace)
    return linear(tokens, attn.proj, int8=int8, workspace=workspace)


def attention_core(
    attn: nn.Module,
    qkv: torch.Tensor,
    grid: tuple[int, int, int],
    workspace: cpu_attention.Workspace | None = None,
) -> torch.Tensor:
    """qkv (B*H*W) x 3C -> the heads' outputs, B x HW x heads x head_dim (before proj)."""
    b, h, w = grid
    qkv = qkv.view(b, h * w, 3, attn.num_heads, -1).permute(2, 0, 3, 1, 4)
    if h * w > CONTIGUOUS_HEADS_FROM:  # global: the per-head products run ~20% faster on dense
        # q, k, v (windows: their q, k are copied into wider operands)
        qkv = cpu_attention.new_empty(workspace, "qkv", qkv.shape, qkv).copy_(qkv)
    q, k, v = qkv.unbind(0)
    tables = (attn.rel_pos_h.shape[0], attn.rel_pos_w.shape[0])
    if h == w and h + w <= q.shape[-1] and tables == (2 * h - 1, 2 * w - 1):  # windows
        queries = one_hot_queries(q, attn.rel_pos_h, attn.rel_pos_w, workspace)
        keys = cpu_attention.one_hot_keys(k, h, w, workspace)
        return cpu_attention.one_hot_products(queries, keys, v, workspace)
    rel_h, rel_w = attn.rel_pos_terms(q, (h, w))
    return cpu_attention.per_head_attention(q, k, v, rel_h, rel_w, workspace)


def one_hot_queries(
    q: torch.Tensor,
    rel_pos_h: torch.Tensor,
    rel_pos_w: torch.Tensor,
    workspace: cpu_attention.Workspace | None = None,
) -> torch.Tensor:
    """cpu_attention's one-hot queries [q * scale, rel_h, rel_w] of square windows, B x heads x HW x
    (C + H + W), written into one buffer. q (B x heads x HW x C, a view) is multiplied once by both
    tables, every relative offset (one product); each query's H (W) terms are then a strided view:
    with the tables reversed, rel_h[qh, qw, kh] sits at column kh - qh + H - 1 of token (qh, qw)."""
    b, n, hw, c = q.shape
    h = w = (rel_pos_h.shape[0] + 1) // 2
    tables = torch.cat([rel_pos_h.flip(0), rel_pos_w.flip(0)]).to(q.dtype)  # K x C
    k = tables.shape[0]
    rel = torch.bmm(q.transpose(0, 1).reshape(n, b * hw, c), tables.t().expand(n, c, k))
    queries = cpu_attention.new_empty(workspace, "queries", (b, n, hw, c + h + w), q)
    queries[..., :c].copy_(q).mul_(c**-0.5)  # (a multiplication into the slice runs 3x slower)
    base, heads = rel.storage_offset(), (b * hw * k, hw * k)
    rel_h = rel.as_strided((n, b, h, w, h), (*heads, w * k - 1, k, 1), base + h - 1)
    rel_w = rel.as_strided((n, b, h, w, w), (*heads, w * k, k - 1, 1), base + 2 * h + w - 2)
    queries[..., c : c + h].unflatten(2, (h, w)).copy_(rel_h.transpose(0, 1))
    queries[..., c + h :].unflatten(2, (h, w)).copy_(rel_w.transpose(0, 1))
    return queries


def grid_parts(n: int, window: int) -> list[tuple[slice, slice, slice, int, int]]:
    """The real rows (or columns) of a padded grid of n, as (window slice, slice within the window,
    slice of the real rows, windows, rows per window): the full windows, then the partial one."""
    full, rest = divmod(n, window)
    parts = [(slice(0, full), slice(None), slice(0, full * window), full, window)] if full else []
    if rest:
        parts.append((slice(full, full + 1), slice(0, rest), slice(full * window, n), 1, rest))
    return parts


def partition(
    x: torch.Tensor,
    window: int,
    pad_value: torch.Tensor,
    workspace: cpu_attention.Workspace | None = None,
) -> torch.Tensor:
    """B x H x W x C -> B x nH x nW x window x window x C, the padded tokens set to pad_value."""
    b, h, w, c = x.shape
    nh, nw = -(-h // window), -(-w // window)
    out = cpu_attention.new_empty(workspace, "windows", (b, nh, nw, window, window, c), x)
    grid = out.permute(0, 1, 3, 2, 4, 5)  # B x nH x window x nW x window x C: the padded grid
    for hb, hi, hs, nhb, nhi in grid_parts(h, window):
        for wb, wi, ws, nwb, nwi in grid_parts(w, window):
            grid[:, hb, hi, wb, wi].copy_(x[:, hs, ws].view(b, nhb, nhi, nwb, nwi, c))
    if h % window:
        grid[:, nh - 1, h % window :] = pad_value
    if w % window:
        grid[:, :, :, nw - 1, w % window :] = pad_value
    return out


def unpartition(
    windows: torch.Tensor,
    window: int,
    grid: tuple[int, int, int],
    workspace: cpu_attention.Workspace | None = None,
) -> torch.Tensor:
    """(B*nH*nW) x window^2 x ... (any trailing shape of C elements) -> (B*H*W) x C, the real
    tokens only."""
    b, h, w = grid
    nh, nw = -(-h // window), -(-w // window)
    padded = windows.reshape(b, nh, nw, window, window, -1).permute(0, 1, 3, 2, 4, 5)
    c = padded.shape[-1]
    out = cpu_attention.new_empty(workspace, "tokens", (b, h, w, c), windows)
    for hb, hi, hs, nhb, nhi in grid_parts(h, window):
        for wb, wi, ws, nwb, nwi in grid_parts(w, window):
            out[:, hs, ws].view(b, nhb, nhi, nwb, nwi, c).copy_(padded[:, hb, hi, wb, wi])
    return out.view(b * h * w, c)


def linear(
    x: torch.Tensor,
    layer: nn.Linear,
    gelu: bool = False,
    int8: bool = False,
    workspace: cpu_attention.Workspace | None = None,
) -> torch.Tensor:
    """cpu_kernels.linear, oneDNN's fused bias and GELU as FUSED_LINEAR says."""
    return cpu_kernels.linear(x, layer, gelu, int8, workspace, fused=FUSED_LINEAR)


fused_linear_available = cpu_kernels.fused_linear_available
layer_norm = cpu_kernels.layer_norm
