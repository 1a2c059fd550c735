"""FlexAttention for the ViT's decomposed relative-position attention.

The SDPA path (image_encoder.rel_pos_attention) hands the kernel a B x heads x HW x HW bias built
from the two decomposed terms; at 1024 px one global block of vit_h writes 1 GB of it per image.
Here the two terms are added inside the kernel instead (a score_mod reading rel_h[q, kh] and
rel_w[q, kw]), so the bias never exists in memory.

Kernels (ImageEncoderViT.attention_kernel, config `model.attention`):
    sdpa   always the SDPA path
    flex   FlexAttention, compiled (Triton on CUDA, inductor's C++ backend on CPU)
    auto   flex on CUDA when FlexAttention and Triton are there, else sdpa (the default)
Either kernel falls back to SDPA where FlexAttention does not serve: a gradient flowing into the
attention inputs (policies that train the encoder), tracing (ONNX), torch without FlexAttention.
A compile error on the first call is logged once and SDPA serves from then on.
"""

from __future__ import annotations

import functools
import importlib.util
import logging

import torch

from ..family_record import ATTENTION_KERNELS

log = logging.getLogger(__name__)

KERNELS = ATTENTION_KERNELS
_compiled = None
_failed = False  # a compile error was seen: SDPA for the rest of the process


def set_attention_kernel(encoder, kernel: str) -> None:
    """model.attention for a SAM 1 image encoder (the family record's `attention`): the ViT takes
    the kernel; TinyViT has no rel-pos attention and always runs SDPA, so auto / sdpa leave it be
    and flex is refused (ValueError naming the key)."""
    if kernel not in KERNELS:
        raise ValueError(f"model.attention={kernel}: expected one of {', '.join(KERNELS)}")
    if hasattr(encoder, "attention_kernel"):
        encoder.attention_kernel = kernel
    elif kernel == "flex":
        raise ValueError(
            f"model.attention=flex: expected auto or sdpa: {type(encoder).__name__} has "
            "no relative-position attention (only SAM's ViT encoder takes a kernel)"
        )


@functools.cache
def flex_attention():
    """torch's flex_attention function, None before torch 2.5. Imported on first use: its module
    imports torch's symbolic shapes and sympy (half a CPU-second), which a process that never
    asks for FlexAttention (every CPU run, --help) does without."""
    try:
        from torch.nn.attention.flex_attention import flex_attention as function
    except ImportError:  # torch < 2.5
        return None
    return function


def compiled_flex_attention():
    global _compiled
    if _compiled is None:
        _compiled = torch.compile(flex_attention())
    return _compiled


@functools.cache
def triton_available() -> bool:
    return importlib.util.find_spec("triton") is not None


def flex_serves(kernel: str, *tensors: torch.Tensor) -> bool:
    """Whether `kernel` runs these attention inputs through FlexAttention."""
    if kernel == "sdpa" or _failed:
        return False
    if torch.jit.is_tracing() or torch.onnx.is_in_onnx_export():
        return False
    if torch.is_grad_enabled() and any(t.requires_grad for t in tensors):
        return False
    if kernel == "auto" and not (tensors[0].device.type == "cuda" and triton_available()):
        return False
    return flex_attention() is not None


def rel_pos_flex_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, rel_h: torch.Tensor, rel_w: torch.Tensor
) -> torch.Tensor | None:
    """Attention with the decomposed bias added in the kernel: q, k, v B x heads x HW x C, rel_h
    B x heads x H x W x H, rel_w B x heads x H x W x W -> B x HW x heads x C; None after a compile
    error (logged once; the caller takes the SDPA path)."""
    global _failed
    b, n, hw, _ = q.shape
    h, w = rel_h.shape[2], rel_h.shape[3]
    rel_h, rel_w = rel_h.reshape(b, n, hw, h), rel_w.reshape(b, n, hw, w)

    def add_rel_pos(score, bi, hi, qi, ki):
        return score + rel_h[bi, hi, qi, ki // w] + rel_w[bi, hi, qi, ki % w]

    if torch.compiler.is_compiling():  # inside a compiled encoder: dynamo lowers it itself
        return flex_attention()(q, k, v, score_mod=add_rel_pos).transpose(1, 2)
    try:
        out = compiled_flex_attention()(q, k, v, score_mod=add_rel_pos)
    except Exception as err:  # noqa: BLE001 - any compile failure: SDPA serves, said once
        _failed = True
        log.warning(
            "FlexAttention failed to compile (%s: %s); the encoder uses SDPA from now on "
            "(model.attention=sdpa silences this)",
            type(err).__name__,
            str(err).splitlines()[0],
        )
        return None
    return out.transpose(1, 2)
