"""ViT image encoder of SAM: windowed + global attention with decomposed relative positions.

Besides the final 256-channel embedding it returns the early feature that SAM-HQ fuses into
its HQ path: the output of the first global-attention block, B x H x W x C.
"""

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..common import (
    LayerNorm2d,
    MLPBlock,
    use_checkpointing,
    window_partition,
    window_unpartition,
)
from . import cpu_attention, cpu_blocks
from .flex_attention import KERNELS, flex_serves, rel_pos_flex_attention

# Largest attention-bias chunk built at once on CPU (bytes). A global block of vit_b at 1024 px would
# otherwise write (and page-fault) a fresh 805 MB bias per image; chunks of query rows written into
# one buffer stay mostly in cache, and SDPA still gets enough queries per call to run efficiently.
CPU_BIAS_CHUNK_BYTES = 64 << 20


class ImageEncoderViT(nn.Module):
    # Opt-in: under CPU bf16 autocast inference (cpu_blocks), run the blocks' linear layers as
    # oneDNN int8 GEMMs (cpu_int8); no effect on any other path
    int8: bool = False

    def __init__(
        self,
        *,
        img_size: int = 1024,
        patch_size: int = 16,
        in_chans: int = 3,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        out_chans: int = 256,
        window_size: int = 14,
        global_attn_indexes: tuple[int, ...] = (2, 5, 8, 11),
        grad_checkpointing: bool = False,
    ) -> None:
        super().__init__()
        if not global_attn_indexes:
            raise ValueError(
                "SAM-HQ needs at least one global-attention block for its early feature"
            )
        self.img_size = img_size
        self.early_block_index = min(global_attn_indexes)
        self.grad_checkpointing = grad_checkpointing  # recompute each block in backward (settable)
        grid = img_size // patch_size
        self.patch_embed = PatchEmbed(patch_size=patch_size, in_chans=in_chans, embed_dim=embed_dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, grid, grid, embed_dim))
        self.blocks = nn.ModuleList(
            Block(
                dim=embed_dim,
                num_heads=num_heads,
                mlp_ratio=mlp_ratio,
                window_size=0 if i in global_attn_indexes else window_size,
                input_size=(grid, grid),
            )
            for i in range(depth)
        )
        self.neck = nn.Sequential(
            nn.Conv2d(embed_dim, out_chans, kernel_size=1, bias=False),
            LayerNorm2d(out_chans),
            nn.Conv2d(out_chans, out_chans, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(out_chans),
        )

    @property
    def attention_kernel(self) -> str:
        """auto | sdpa | flex: how the rel-pos attention runs (flex_attention.py); settable."""
        return self.blocks[0].attn.kernel

    @attention_kernel.setter
    def attention_kernel(self, kernel: str) -> None:
        if kernel not in KERNELS:
            raise ValueError(f"attention kernel {kernel!r}: expected one of {', '.join(KERNELS)}")
        for block in self.blocks:
            block.attn.kernel = kernel

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x: B x 3 x S x S normalised -> (B x out_chans x S/16 x S/16, early B x S/16 x S/16 x C)."""
        x = self.patch_embed(x) + self.pos_embed
        if cpu_blocks.serves(self.blocks, x):  # bf16 CPU inference
            x, early = cpu_blocks.run_blocks(
                self.blocks, x, self.early_block_index, cpu_blocks.BF16, self.int8
            )
            return self.neck(x.permute(0, 3, 1, 2)), early
        early = x
        recompute = use_checkpointing(self, x)
        for i, block in enumerate(self.blocks):
            x = checkpoint(block, x, use_reentrant=False) if recompute else block(x)
            if i == self.early_block_index:
                early = x
        return self.neck(x.permute(0, 3, 1, 2)), early


class PatchEmbed(nn.Module):
    def __init__(self, *, patch_size: int, in_chans: int, embed_dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 1)  # B x H x W x C


class Block(nn.Module):
    """Pre-norm transformer block; window_size 0 means global attention."""

    def __init__(
        self,
        *,
        dim: int,
        num_heads: int,
        mlp_ratio: float,
        window_size: int,
        input_size: tuple[int, int],
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        attn_size = input_size if window_size == 0 else (window_size, window_size)
        self.attn = Attention(dim, num_heads=num_heads, input_size=attn_size)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = MLPBlock(dim, int(dim * mlp_ratio))
        self.window_size = window_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.norm1(x)
        if self.window_size > 0:
            h, w = x.shape[1], x.shape[2]
            x, padded_hw = window_partition(x, self.window_size)
            x = self.attn(x)
            x = window_unpartition(x, self.window_size, padded_hw, (h, w))  # a view when cropped
        else:
            x = self.attn(x)
        x = shortcut + x
        return x + self.mlp(self.norm2(x))


class Attention(nn.Module):
    """Multi-head self-attention with decomposed relative position bias (MViTv2).

    q, k and v stay strided views of the qkv output; the bias is built in chunks of query rows
    (on CPU) and handed to scaled_dot_product_attention, so fused kernels serve it, or added inside
    FlexAttention (`kernel`, see flex_attention.py).
    """

    def __init__(self, dim: int, *, num_heads: int, input_size: tuple[int, int]) -> None:
        super().__init__()
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)
        self.rel_pos_h = nn.Parameter(torch.zeros(2 * input_size[0] - 1, head_dim))
        self.rel_pos_w = nn.Parameter(torch.zeros(2 * input_size[1] - 1, head_dim))
        self.kernel = "auto"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: B x H x W x C -> B x H x W x C."""
        b, h, w, _ = x.shape
        qkv = self.qkv(x).view(b, h * w, 3, self.num_heads, -1)
        q, k, v = qkv.transpose(1, 3).unbind(2)  # each B x heads x HW x head_dim, views
        rel_h, rel_w = self.rel_pos_terms(q, (h, w))
        x = None
        if flex_serves(self.kernel, q, k, v, rel_h, rel_w):
            x = rel_pos_flex_attention(q, k, v, rel_h, rel_w)
        if x is None:
            x = rel_pos_attention(q, k, v, rel_h, rel_w)  # B x HW x heads x head_dim
        return self.proj(x.reshape(b, h, w, -1))

    def rel_pos_terms(
        self, q: torch.Tensor, size: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """decomposed_rel_pos of q (B x heads x HW x C) on an H x W grid."""
        return decomposed_rel_pos(q, self.rel_pos_h, self.rel_pos_w, size)


def relative_position_table(q_size: int, k_size: int, rel_pos: torch.Tensor) -> torch.Tensor:
    """Rel-pos embeddings for every (query, key) offset: q_size x k_size x C."""
    max_dist = 2 * max(q_size, k_size) - 1
    if rel_pos.shape[0] != max_dist:
        rel_pos = F.interpolate(rel_pos.T[None], size=max_dist, mode="linear")[0].T
    q_coords = torch.arange(q_size, device=rel_pos.device)[:, None] * max(k_size / q_size, 1.0)
    k_coords = torch.arange(k_size, device=rel_pos.device)[None, :] * max(q_size / k_size, 1.0)
    offsets = (q_coords - k_coords) + (k_size - 1) * max(q_size / k_size, 1.0)
    return rel_pos[offsets.long()]


def decomposed_rel_pos(
    q: torch.Tensor, rel_pos_h: torch.Tensor, rel_pos_w: torch.Tensor, size: tuple[int, int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Height and width terms of the rel-pos bias, B x heads x H x W x H and B x heads x H x W x W
    (contiguous): bias[(qh, qw), (kh, kw)] = rel_h[qh, qw, kh] + rel_w[qh, qw, kw].

    q is B x heads x HW x C; the query is unscaled, as in SAM.
    """
    h, w = size
    table_h = relative_position_table(h, h, rel_pos_h).to(q.dtype)
    table_w = relative_position_table(w, w, rel_pos_w).to(q.dtype)
    q = q.unflatten(2, (h, w))
    rel_h = torch.einsum("bnhwc,hkc->bnhwk", q, table_h)
    rel_w = torch.einsum("bnhwc,wkc->bnhwk", q, table_w)
    return rel_h.contiguous(), rel_w.contiguous()


def rel_pos_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rel_h: torch.Tensor, rel_w: torch.Tensor
) -> torch.Tensor:
    """SDPA with the decomposed bias: q, k, v B x heads x HW x C -> B x HW x heads x C.

    On CPU, bf16 without autograd takes cpu_attention's kernels; otherwise the bias is
    materialised for a chunk of images or query rows at a time (at most CPU_BIAS_CHUNK_BYTES), into
    one reused buffer when no gradient flows into it; elsewhere at once.
    """
    b, n, hw, c = q.shape
    h, w = rel_h.shape[2], rel_h.shape[3]
    if q.device.type != "cpu" or torch.jit.is_tracing():  # ONNX export: one graph, any batch
        return sdpa_rows(q, k, v, rel_h, rel_w).transpose(1, 2)
    if cpu_attention.serves(q, rel_h, rel_w):
        return cpu_attention.rel_pos_attention_cpu(q, k, v, rel_h, rel_w)
    per_row = n * w * hw * q.element_size()  # bias bytes of one query row of one image
    images = max(1, min(b, CPU_BIAS_CHUNK_BYTES // (per_row * h)))
    rows = h if images > 1 else max(1, min(h, CPU_BIAS_CHUNK_BYTES // per_row))
    if rows < h:  # a global block: the CPU kernel runs faster on dense q, k, v (bf16 most, ~20%)
        q, k, v = q.contiguous(), k.contiguous(), v.contiguous()
    grad = torch.is_grad_enabled() and (rel_h.requires_grad or rel_w.requires_grad)
    buffer = None if grad else q.new_empty(images * n * rows * w * hw)
    out = q.new_empty(b, hw, n, c)
    for i in range(0, b, images):
        for r in range(0, h, rows):
            im, qs = slice(i, i + images), slice(r * w, (r + rows) * w)
            rh, rw = rel_h[im, :, r : r + rows], rel_w[im, :, r : r + rows]
            out[im, qs] = sdpa_rows(q[im, :, qs], k[im], v[im], rh, rw, buffer).transpose(1, 2)
    return out


def sdpa_rows(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    rel_h: torch.Tensor,
    rel_w: torch.Tensor,
    buffer: torch.Tensor | None = None,
) -> torch.Tensor:
    """Attention of the queries of some rows: q B x heads x rows*W x C, rel_h B x heads x rows x W x H,
    rel_w B x heads x rows x W x W; the bias goes into the front of `buffer` if given."""
    rel_h, rel_w = rel_h[..., :, None], rel_w[..., None, :]
    if buffer is None:
        bias = (rel_h + rel_w).to(q.dtype)  # contiguous B x heads x rows x W x H x W
    else:
        shape = torch.broadcast_shapes(rel_h.shape, rel_w.shape)
        bias = torch.add(rel_h, rel_w, out=buffer[: shape.numel()].view(shape))
    bias = bias.view(q.shape[0], q.shape[1], q.shape[2], k.shape[2])
    return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
