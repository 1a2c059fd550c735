"""bf16 inference on the CPU for the ViT's decomposed relative-position attention.

SDPA's CPU kernel takes the bias as a materialised B x heads x HW x HW mask: building it, and
reading it inside the kernel, costs about as much as the attention's matrix products (bf16, vit_b
at 1024 px). Here each chunk of the scores is built in one matrix product that already holds the
bias, and stays in cache through the softmax and the product with v:

- windowed blocks (h + w <= head_dim): the bias is folded into the product itself. Queries get
  their two bias terms as extra channels, keys get one-hot (key row, key column) channels:
  [q * scale, rel_h, rel_w] . [k, onehot(kh), onehot(kw)] = q.k * scale + rel_h[kh] + rel_w[kw].
- global blocks: per image, group of heads and chunk of query rows, rel_h + rel_w is written into
  the score buffer and the product q k^T is accumulated onto it (baddbmm with beta 1).

Only for bf16 tensors without autograd (rel_pos_attention decides); outputs agree with the SDPA
path within bf16 rounding (tests/model/test_cpu_attention.py).
"""


import torch

from .. import cpu_kernels
from ..common import Workspace
from ..cpu_kernels import new_empty

# Scores of one chunk (bytes): small enough to stay in the cores' L2 / L3 between its three steps.
SCORE_CHUNK_BYTES = 4 << 20
# Heads of a global block per product: fewer, larger calls (about 1.3x faster on 2 busy threads)
HEADS_PER_CHUNK = 4


def serves(q: torch.Tensor, rel_h: torch.Tensor, rel_w: torch.Tensor) -> bool:
    """Whether these attention inputs take the bf16 CPU inference kernels."""
    if q.device.type != "cpu" or q.dtype != torch.bfloat16 or torch.jit.is_tracing():
        return False
    grad = q.requires_grad or rel_h.requires_grad or rel_w.requires_grad
    return not (torch.is_grad_enabled() and grad)


def rel_pos_attention_cpu(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rel_h: torch.Tensor, rel_w: torch.Tensor
) -> torch.Tensor:
    """q, k, v B x heads x HW x C (bf16), rel_h B x heads x H x W x H, rel_w B x heads x H x W x W
    -> B x HW x heads x C."""
    h, w = rel_h.shape[2], rel_h.shape[3]
    if h + w <= q.shape[-1]:
        return one_hot_attention(q, k, v, rel_h, rel_w)
    return per_head_attention(q, k, v, rel_h, rel_w)


def one_hot_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rel_h: torch.Tensor, rel_w: torch.Tensor
) -> torch.Tensor:
    c = q.shape[-1]
    queries = torch.cat([q * c**-0.5, rel_h.flatten(2, 3), rel_w.flatten(2, 3)], dim=-1)
    return one_hot_products(queries, one_hot_keys(k, rel_h.shape[2], rel_h.shape[3]), v)


def one_hot_keys(
    k: torch.Tensor, h: int, w: int, workspace: Workspace | None = None
) -> torch.Tensor:
    """k B x heads x HW x C -> [k, onehot(key row), onehot(key col)], B x heads x HW x (C+H+W)."""
    b, n, hw, _ = k.shape
    key_row = torch.arange(hw, device=k.device) // w
    key_col = torch.arange(hw, device=k.device) % w
    one_hot = torch.cat([
        key_row[:, None] == torch.arange(h, device=k.device),
        key_col[:, None] == torch.arange(w, device=k.device),
    ], dim=1).to(k.dtype)  # HW x (H + W)
    keys = new_empty(workspace, "keys", (b, n, hw, k.shape[-1] + h + w), k)
    return torch.cat([k, one_hot.expand(b, n, hw, h + w)], dim=-1, out=keys)


def one_hot_products(
    queries: torch.Tensor, keys: torch.Tensor, v: torch.Tensor, workspace: Workspace | None = None
) -> torch.Tensor:
    """softmax(queries keys^T) v for a few images at a time: B x heads x HW x (C+H+W) operands,
    v B x heads x HW x C -> B x HW x heads x C."""
    return cpu_kernels.batched_attention(queries, keys, v, workspace, SCORE_CHUNK_BYTES)


def per_head_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    rel_h: torch.Tensor,
    rel_w: torch.Tensor,
    workspace: Workspace | None = None,
) -> torch.Tensor:
    b, n, hw, c = q.shape
    h, w = rel_h.shape[2], rel_h.shape[3]
    rows = cpu_kernels.chunk_rows(hw, hw, q.element_size(), w, SCORE_CHUNK_BYTES)
    q = torch.mul(q, c**-0.5, out=new_empty(workspace, "scaled", q.shape, q))

    def bias(i: int, heads: slice, start: int, end: int, scores: torch.Tensor) -> None:
        rh = rel_h[i, heads, start // w : end // w, :, :, None]
        rw = rel_w[i, heads, start // w : end // w, :, None, :]
        torch.add(rh, rw, out=scores.view(*rh.shape[:2], w, h, w))

    return cpu_kernels.chunked_attention(q, k, v, rows, workspace, bias, HEADS_PER_CHUNK)
