"""Activation checkpointing of the concept detector's parts, as Meta's Sam3Image trains: each
part with a `grad_checkpointing` switch (the text encoder's blocks, the geometry encoder's and the
fusion encoder's layers, the decoder's layers, the segmentation head) keeps only its inputs in the
forward pass and recomputes the rest in backward.

Meta's rule (act_ckpt_enable=self.training and the switch): train mode only, unlike the ViT
trunk's use_checkpointing, which also recomputes in eval mode when gradients flow. Values and
gradients are unchanged: torch.utils.checkpoint (non-reentrant, as Meta's act_ckpt_utils) replays
the dropout masks of the forward pass from its saved RNG state, and the recomputed parts have no
side effects (no buffers written, no in-place updates of their inputs)."""

from collections.abc import Callable
from typing import TypeVar

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

T = TypeVar("T")


def recomputes(part: nn.Module) -> bool:
    """Whether `part` (a module with a `grad_checkpointing` switch) recomputes in backward: the
    switch on, train mode and autograd recording."""
    return part.grad_checkpointing and part.training and torch.is_grad_enabled()


def run_part(part: nn.Module, fn: Callable[..., T], *args, **kwargs) -> T:
    """fn(*args, **kwargs), under activation checkpointing where `part` recomputes."""
    if recomputes(part):
        return checkpoint(fn, *args, use_reentrant=False, **kwargs)
    return fn(*args, **kwargs)
