"""The matmul floor of an image encoder on the CPU: the GEMM shapes of its matrix products
(patch embedding, qkv / proj / MLP of every block on its padded windows, q k^T and p v of every
window or global block, the neck's convolutions as GEMMs; the small rel-pos products left out) and
one call that runs them as bf16 torch.matmul calls. No elementwise work, no softmax, no bias.
scripts/benchmark_cpu.py and scripts/profiling/ time it beside the encoders."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

BF16 = torch.bfloat16


def encoder_gemms(encoder, image_size: int | None = None) -> list[tuple[int, int, int, int]]:
    """(batch, M, K, N) of every matrix product of a SAM 1 ViT encoder, of SAM 3's ViT trunk
    and neck (a module with `trunk`; its blocks up to the last global one, the neck's levels it
    keeps) or of SAM 2.1's Hiera trunk and FPN neck (hiera_gemms), on one image (`image_size`:
    the input side of the last two)."""
    if hasattr(getattr(encoder, "trunk", None), "stage_ends"):
        return hiera_gemms(encoder, image_size)
    if hasattr(encoder, "trunk"):
        trunk = encoder.trunk
        grid = image_size // trunk.patch_embed.proj.kernel_size[0]
        blocks = trunk.blocks[: trunk.global_att_blocks[-1] + 1]
        necks = encoder.sam2_convs[: encoder.levels]
        windows = [block.window for block in blocks]
        hidden = blocks[0].mlp.fc1.out_features
        dim = trunk.pos_embed.shape[-1]
    else:
        patch = encoder.patch_embed.proj.kernel_size[0]
        grid, blocks, necks = encoder.img_size // patch, encoder.blocks, [encoder.neck]
        windows = [block.window_size for block in blocks]
        hidden = blocks[0].mlp.lin1.out_features
        dim = encoder.pos_embed.shape[-1]
        trunk = encoder
    gemms = conv_gemms([trunk.patch_embed.proj], grid * trunk.patch_embed.proj.kernel_size[0])
    for block, window in zip(blocks, windows, strict=True):
        gemms += block_gemms(grid, dim, block.attn.num_heads, window, hidden)
    for neck in necks:
        gemms += conv_gemms(neck, grid)
    return gemms


def block_gemms(
    grid: int, dim: int, heads: int, window: int, hidden: int
) -> list[tuple[int, int, int, int]]:
    """qkv, q k^T, p v, proj (on the padded windows' tokens) and MLP of one ViT block on a grid x
    grid map; window 0: global attention."""
    head_dim = dim // heads
    if window == 0:
        tokens, windows, length = grid * grid, 1, grid * grid
    else:
        padded = -(-grid // window) * window
        tokens, windows, length = padded * padded, (padded // window) ** 2, window * window
    return [
        (1, tokens, dim, 3 * dim),
        (windows * heads, length, head_dim, length),
        (windows * heads, length, length, head_dim),
        (1, tokens, dim, dim),
        (1, grid * grid, dim, hidden),
        (1, grid * grid, hidden, dim),
    ]


def hiera_gemms(encoder, image_size: int) -> list[tuple[int, int, int, int]]:
    """SAM 2.1's Hiera (every block: the stage transitions' proj on the whole map, qkv on the
    padded windows, q k^T and p v with the pooled queries, proj on the pooled windows, the MLP on
    the map) and the neck's lateral 1 x 1 convolutions on every stage's map."""
    trunk = encoder.trunk
    gemms = conv_gemms([trunk.patch_embed.proj], image_size)
    grid, sides = image_size // trunk.patch_embed.proj.stride[0], []
    for i, block in enumerate(trunk.blocks):
        dim, dim_out = block.norm1.normalized_shape[0], block.norm2.normalized_shape[0]
        heads, stride = block.attn.num_heads, block.q_stride[0] if block.q_stride else 1
        window = block.window_size or grid
        padded = -(-grid // window) * window
        windows, length = (padded // window) ** 2, window * window
        queries, head_dim = length // stride**2, dim_out // heads
        if block.proj is not None:
            gemms.append((1, grid * grid, dim, dim_out))
        grid //= stride
        gemms += [
            (1, padded * padded, dim, 3 * dim_out),
            (windows * heads, queries, head_dim, length),
            (windows * heads, queries, length, head_dim),
            (1, windows * queries, dim_out, dim_out),
            (1, grid * grid, dim_out, block.mlp.layers[0].out_features),
            (1, grid * grid, block.mlp.layers[0].out_features, dim_out),
        ]
        if i in trunk.stage_ends:
            sides.append(grid)
    for lateral, side in zip(encoder.neck.convs, reversed(sides), strict=True):
        gemms += conv_gemms(lateral, side)
    return gemms


def conv_gemms(layers, side: int) -> list[tuple[int, int, int, int]]:
    """The (transposed) convolutions of `layers` on a side x side input as GEMMs (one output pixel
    per row; a transposed one: one input pixel per row); max pools halve the side."""
    gemms = []
    for layer in layers:
        if isinstance(layer, torch.nn.ConvTranspose2d):
            kernel = layer.kernel_size[0] * layer.kernel_size[1]
            gemms.append((1, side * side, layer.in_channels, layer.out_channels * kernel))
            side *= layer.stride[0]
        elif isinstance(layer, torch.nn.Conv2d):
            side = (side + 2 * layer.padding[0] - layer.kernel_size[0]) // layer.stride[0] + 1
            kernel = layer.kernel_size[0] * layer.kernel_size[1]
            gemms.append((1, side * side, layer.in_channels * kernel, layer.out_channels))
        elif isinstance(layer, torch.nn.MaxPool2d):
            side //= 2
    return gemms


def matmul_floor_call(gemms, max_out_bytes: int = 64 << 20) -> Callable[[], None]:
    """One call runs every GEMM in bf16 (large batched ones in slices whose operands and output
    stay within max_out_bytes, single ones with a larger operand in equal slices of rows, the last
    rounded up). The left (right) operands are views of one random buffer (SAM 3's blocks and
    neck: ~5 GB of operands otherwise)."""
    work = []
    for batch, m, k, n in gemms:
        per = max(1, min(batch, max_out_bytes // (2 * max(m * n, m * k, k * n))))
        parts = 1 if batch > 1 else -(-m * max(k, n) * 2 // max_out_bytes)
        work.append(((per, -(-m // parts), k), (per, k, n), -(-batch // per) * parts))
    gen = torch.Generator().manual_seed(0)
    left, right = (
        torch.randn(max(math.prod(w[i]) for w in work), generator=gen, dtype=BF16)
        for i in (0, 1)
    )
    work = [(left[: math.prod(a)].view(a), right[: math.prod(b)].view(b), t) for a, b, t in work]

    def run() -> None:
        for a, b, times in work:
            for _ in range(times):
                torch.matmul(a, b)

    return run


def flops(gemms) -> float:
    return sum(2.0 * b * m * k * n for b, m, k, n in gemms)
