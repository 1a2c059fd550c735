"""Small building blocks shared by the encoders and the decoders of the families."""

import math

import torch
import torch.nn.functional as F
from torch import nn

from samhq_train.compat import autocast_dtype


def use_checkpointing(module: nn.Module, x: torch.Tensor) -> bool:
    """Whether `module.grad_checkpointing` applies: on, and a backward pass can follow."""
    if not (module.grad_checkpointing and torch.is_grad_enabled()):
        return False
    return module.training or x.requires_grad or any(p.requires_grad for p in module.parameters())


def drop_path(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Stochastic depth: each sample's branch zeroed with probability p (training only), the
    kept ones scaled by 1 / (1 - p)."""
    if not p or not training:
        return x
    keep = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(1 - p)
    return x * keep.div_(1 - p)


def set_drop_path_rates(blocks, rate: float) -> None:
    """Each block's `drop_path` rising linearly from 0 (the first) to `rate` (the last)."""
    rates = torch.linspace(0, rate, len(blocks)).tolist()
    for block, p in zip(blocks, rates, strict=True):
        block.drop_path = p


class LayerNorm2d(nn.Module):
    """LayerNorm over the channel dimension of a B x C x H x W tensor."""

    def __init__(self, num_channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # the fused kernel on a channels-last view: half the time of mean/var/normalise in NCHW;
        # the result stays channels-last (convolutions take it as is)
        x = F.layer_norm(x.permute(0, 2, 3, 1), self.weight.shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class MLPBlock(nn.Module):
    """Two-layer feed-forward block (the transformer MLP)."""

    def __init__(self, embedding_dim: int, mlp_dim: int, act: type[nn.Module] = nn.GELU) -> None:
        super().__init__()
        self.lin1 = nn.Linear(embedding_dim, mlp_dim)
        self.lin2 = nn.Linear(mlp_dim, embedding_dim)
        self.act = act()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin2(self.act(self.lin1(x)))


class MLP(nn.Module):
    """`num_layers` linear layers with ReLU between them (decoder heads)."""

    def __init__(self, input_dim: int, hidden_dim: int, output_dim: int, num_layers: int) -> None:
        super().__init__()
        dims_in = [input_dim] + [hidden_dim] * (num_layers - 1)
        dims_out = [hidden_dim] * (num_layers - 1) + [output_dim]
        self.layers = nn.ModuleList(nn.Linear(i, o) for i, o in zip(dims_in, dims_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < last:
                x = F.relu(x)
        return x


def apply_hypernetwork(weights: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """Masks from hypernetwork outputs: weights N x M x C, features N x C x H x W -> N x M x H x W
    (a product over channels; read in the features' own memory format, without a copy)."""
    n, c, h, w = features.shape
    # (a traced graph, e.g. ONNX, has no memory format: it takes the plain path)
    if not torch.jit.is_tracing() and c > 1 and features.is_contiguous(memory_format=torch.channels_last):
        pixels = features.permute(0, 2, 3, 1).reshape(n, h * w, c)
        return (pixels @ weights.transpose(1, 2)).transpose(1, 2).reshape(n, -1, h, w)
    return (weights @ features.reshape(n, c, h * w)).reshape(n, -1, h, w)


def early_to_nchw(early: torch.Tensor, conv: nn.Module) -> torch.Tensor:
    """The ViT's early feature B x H x W x C as B x C x H x W for the HQ fusion's first (transposed)
    convolution `conv`: a permuted view (channels-last strides), which suits its forward, except
    where `conv`'s weight gradient is computed in fp32 on the CPU: oneDNN runs that ~4x slower on
    the view than on a contiguous NCHW copy (vit_b, 768 -> 256 channels at 64 x 64, 1 thread:
    0.32 vs 0.08 s per backward; under bf16 autocast the view is as fast)."""
    nchw = early.permute(0, 3, 1, 2)
    weight = conv.weight
    if (
        torch.is_grad_enabled()
        and weight.requires_grad
        and early.device.type == "cpu"
        and weight.dtype == torch.float32
        and autocast_dtype("cpu") is None
        and not torch.jit.is_tracing()
    ):
        return nchw.contiguous()
    return nchw


def window_partition(x: torch.Tensor, window: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """B x H x W x C -> (B*nW) x window x window x C, zero-padding H and W up to multiples of
    window; also returns the padded (H, W) for window_unpartition."""
    b, h, w, c = x.shape
    pad_h, pad_w = (-h) % window, (-w) % window
    if pad_h or pad_w:
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
    hp, wp = h + pad_h, w + pad_w
    x = x.view(b, hp // window, window, wp // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window, window, c), (hp, wp)


def window_unpartition(
    windows: torch.Tensor, window: int, padded_hw: tuple[int, int], hw: tuple[int, int]
) -> torch.Tensor:
    """(B*nW) x window x window x C -> B x H x W x C; a cropped (strided) view when padded."""
    hp, wp = padded_hw
    h, w = hw
    b = windows.shape[0] // ((hp // window) * (wp // window))
    x = windows.reshape(b, hp // window, wp // window, window, window, -1)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, -1)[:, :h, :w]


class Workspace:
    """Buffers reused by role across the blocks of one forward pass (CPU inference paths): glibc hands large
    freed blocks back to the OS, so each fresh tensor of tens of MB is page-faulted in again (vit_b,
    1024 px, 1 thread: 100-120k page faults and ~0.5 of 6.3 CPU s per image without these buffers,
    10-15k with them). A buffer is handed out again on the next request of its name."""

    def __init__(self) -> None:
        self.buffers: dict[str, torch.Tensor] = {}

    def empty(self, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        numel = math.prod(shape)
        buffer = self.buffers.get(name)
        if buffer is None or buffer.numel() < numel or buffer.dtype != dtype:
            buffer = self.buffers[name] = torch.empty(numel, dtype=dtype)
        return buffer[:numel].view(shape)


class TrunkSwitches:
    """The switches of an image encoder made of a trunk and a neck, which are the trunk's:
    grad_checkpointing (the trunk recomputes its blocks in backward; the neck, a few convs, keeps
    its activations) and int8 (its linear layers as int8 GEMMs in CPU bf16 inference,
    model/cpu_int8.py)."""

    trunk: nn.Module

    @property
    def grad_checkpointing(self) -> bool:
        return self.trunk.grad_checkpointing

    @grad_checkpointing.setter
    def grad_checkpointing(self, value: bool) -> None:
        self.trunk.grad_checkpointing = value

    @property
    def int8(self) -> bool:
        return self.trunk.int8

    @int8.setter
    def int8(self, value: bool) -> None:
        self.trunk.int8 = value
