"""int8 linear layers of the image encoders on the CPU, opt-in (the encoder's `int8` switch).

oneDNN's int8 GEMM (onednn.qlinear_pointwise, VNNI / AMX) runs an encoder's large linear layers
(SAM 1 ViT-B: 4096 x 768 x 3072) about 2x faster than its bf16 linear on AVX-512 VNNI CPUs. Weights
are quantized once per output channel, symmetric (zero point 0, scale max|w| / 127), prepacked and
cached beside the layer (keyed by the weight's and bias's storage and version, so an in-place update
or a new tensor repacks). Activations are quantized per call, per tensor: uint8 with zero point 128
and scale max|x| / 127 (symmetric, so the zero point costs nothing in range). The GEMM accumulates
in int32 and writes bf16 with the bias (and GELU) applied inside oneDNN. Attention stays bf16.

Without VNNI (AVX2, AVX-512 before Cascade Lake) oneDNN's int8 GEMM sums pairs of uint8 x int8
products in int16 (vpmaddubsw), which saturates on 8-bit weights and activations (max abs error 0.4
where 0.03 is right, 4096 x 768 x 3072), and a bf16 output sends it to its reference kernel (~10 M
multiply-adds per CPU s: 2.7 CPU s for a 1024 x 96 x 288 GEMM). There (`without_vnni`) the 8-bit
weights q run as two GEMMs with fp32 outputs, of q // 2 (255 * 64 * 2 fits int16) and of q % 2,
summed: the 8-bit result (7-bit weights instead raised a Hiera miniature's mean error by 1.5x).
4096 x 768 x 3072, 1 thread, CPU s: int8 0.40 (within a bf16 step of the reference kernel's), fp32
linear 0.35, bf16 linear 2.4 (bf16 is emulated on AVX2). `check_int8` warns there
(NO_VNNI_WARNING).

Two ways in: the encoders' bf16 CPU blocks (sam1/, sam3/, sam2/cpu_blocks.py) call `linear`;
where those do not serve (a hook, LoRA), SAM 3's ViT and SAM 2.1's Hiera open `scope` around their
plain blocks when `serves` says so, and those call their linear layers through `call`, which is
`layer(x)` (then `act`) outside an int8 scope. An encoder with the switch has a bool attribute
`int8` (`int8_encoder`).
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import weakref
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F
from torch import nn

from samhq_train.compat import autocast_dtype

from .common import Workspace

BF16 = torch.bfloat16
F32 = torch.float32
# the image encoders with the int8 switch, as refusals and --help name them
ENCODERS = "SAM 1 ViT-B/L/H, SAM 3 ViT, SAM 2.1 Hiera"
ZERO_POINT = 128
# the one line int8 users get on a CPU without VNNI (`without_vnni`): correct, but no faster
NO_VNNI_WARNING = (
    "int8: this CPU has no VNNI, so its int8 linear layers run only about as fast as fp32 ones "
    "(and the rest in emulated bf16): leaving int8 (and bf16) out is likely faster; the results "
    "are correct either way"
)
# layer -> (cache key, prepacked int8 weight, fp32 per-channel scales, zero points, fp32 bias)
_packed: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# the buffers of the int8 scope open in this context (None: no scope, `call` is the plain layer)
_scope: contextvars.ContextVar[Workspace | None] = contextvars.ContextVar(
    "int8 scope", default=None
)


def _ops():
    return getattr(torch.ops, "onednn", None)


@functools.cache
def available() -> bool:
    """oneDNN's int8 linear with a fused GELU runs on this build and CPU (probed on a tiny case)."""
    onednn = _ops()
    if not (
        torch.backends.mkldnn.is_available()
        and hasattr(onednn, "qlinear_pointwise")
        and hasattr(onednn, "qlinear_prepack")
    ):
        return False
    try:
        return _probe()
    except (RuntimeError, NotImplementedError, TypeError):  # missing kernel, older signature
        return False


@functools.cache
def without_vnni() -> bool:
    """No VNNI on this CPU: two GEMMs of the weights' halves, in fp32 (module docstring)."""
    vnni = getattr(torch.cpu, "_is_vnni_supported", None)
    try:
        return not (vnni is not None and vnni())
    except RuntimeError:
        return True


def _probe() -> bool:
    with torch.autocast("cpu", enabled=False):  # available() is first asked inside autocast
        gen = torch.Generator().manual_seed(0)
        layer = nn.utils.skip_init(nn.Linear, 32, 16)  # the global RNG untouched
        with torch.no_grad():
            layer.weight.copy_(torch.randn(16, 32, generator=gen) * 0.1)
            layer.bias.copy_(torch.randn(16, generator=gen) * 0.1)
        x = torch.randn(8, 32, generator=gen).to(BF16)
        out = _linear(x, layer, gelu=True)
        _packed.pop(layer, None)
        expected = F.gelu(F.linear(x.float(), layer.weight, layer.bias))
    return out.shape == expected.shape and bool(torch.allclose(out.float(), expected, atol=0.05))


def _version(tensor: torch.Tensor) -> int:
    try:
        return tensor._version
    except RuntimeError:  # an inference tensor (made under inference_mode) has no version counter
        return -1


def weight_key(layer: nn.Linear) -> tuple:
    """What a cached copy of the layer's weight and bias is valid for: their storage, version and
    dtype (an in-place update or a new tensor changes it)."""
    tensors = (layer.weight, layer.bias) if layer.bias is not None else (layer.weight,)
    return tuple((t.data_ptr(), _version(t), t.dtype) for t in tensors)


def packed_weight(layer: nn.Linear) -> tuple:
    """(prepacked int8 weights, fp32 scales per output channel, int64 zero points, fp32 bias or
    None) of the layer, quantized on first use and again whenever its weight or bias changes. The
    weights: one pack of the 8-bit weights q, or without VNNI (`without_vnni`) two, of q // 2 (in
    [-64, 63]: no int16 pair sum saturates) and of q % 2 (0 or 1), the scales those of q."""
    key = weight_key(layer)
    entry = _packed.get(layer)
    if entry is not None and entry[0] == key:
        return entry[1]
    with torch.no_grad():
        weight = layer.weight.detach().float()
        scales = (weight.abs().amax(dim=1) / 127).clamp_min(1e-12)
        quantized = torch.round(weight / scales[:, None]).clamp_(-127, 127).to(torch.int8)
        prepack = _ops().qlinear_prepack
        if without_vnni():
            halves = (quantized.div(2, rounding_mode="floor"), quantized.remainder(2))
            packed = tuple(prepack(w, None) for w in halves)
        else:
            packed = prepack(quantized, None)
        bias = None if layer.bias is None else layer.bias.detach().float().contiguous()
        zero_points = torch.zeros(weight.shape[0], dtype=torch.int64)
    value = (packed, scales, zero_points, bias)
    _packed[layer] = (key, value)
    return value


def quantize_activation(
    x: torch.Tensor, workspace: Workspace | None = None
) -> tuple[torch.Tensor, float]:
    """x (2-D, bf16 or fp32) -> (uint8 with zero point 128, scale), rounded to nearest.
    x * 127 / max|x| + 128.5 lies in [1.5, 255.5], so truncation is round-half-up, no clamp.
    The scaling runs in fp32 (in bf16 ~5 % of the values would land one step off); reusing the
    workspace's buffers makes it ~2.4x faster (37.7 -> 15.8 ms on 4096 x 3072, 1 thread)."""
    low, high = torch.aminmax(x)
    peak = max(-float(low), float(high), 1e-12)
    if workspace is None:
        workspace = Workspace()
    scaled = workspace.empty("int8 scaled", x.shape, torch.float32).copy_(x)
    scaled.mul_(127 / peak).add_(ZERO_POINT + 0.5)
    quantized = workspace.empty("int8 input", x.shape, torch.uint8).copy_(scaled)
    return quantized, peak / 127


def _linear(
    x: torch.Tensor,
    layer: nn.Linear,
    gelu: bool,
    workspace: Workspace | None = None,
) -> torch.Tensor:
    packed, scales, zero_points, bias = packed_weight(layer)
    qx, scale = quantize_activation(x, workspace)
    gemm = _ops().qlinear_pointwise
    if not without_vnni():
        attr, algorithm = ("gelu", "none") if gelu else ("none", "")
        args = (scale, ZERO_POINT, packed, scales, zero_points, bias, 1.0, 0, BF16, attr, [])
        return gemm(qx, *args, algorithm)
    high, low = packed  # q = 2 (q // 2) + q % 2, each GEMM in fp32 (module docstring)
    out = gemm(
        qx, scale, ZERO_POINT, high, scales * 2, zero_points, bias, 1.0, 0, F32, "none", [], ""
    )
    out += gemm(qx, scale, ZERO_POINT, low, scales, zero_points, None, 1.0, 0, F32, "none", [], "")
    return (F.gelu(out) if gelu else out).to(BF16)


def linear(
    x: torch.Tensor,
    layer: nn.Linear,
    gelu: bool = False,
    workspace: Workspace | None = None,
) -> torch.Tensor:
    """layer(x) (then exact GELU) as an int8 GEMM, bf16 out; x 2-D bf16 or fp32. The workspace
    (one forward pass's) lends the quantization buffers."""
    return _linear(x.contiguous(), layer, gelu, workspace)


def cpu_bf16_autocast() -> bool:
    return autocast_dtype("cpu") == BF16


def compiling() -> bool:
    """Inside torch.compile / torch.export (ONNX's dynamo exporter too): the plain layers."""
    is_compiling = getattr(torch.compiler, "is_compiling", None)
    return bool(is_compiling and is_compiling())


def serves(encoder: nn.Module, x: torch.Tensor) -> bool:
    """Whether an encoder with its `int8` switch on runs int8 linear layers for this input: CPU
    inference under bf16 autocast (no autograd, tracing or compiling) on a build with the ops."""
    if not getattr(encoder, "int8", False) or x.device.type != "cpu":
        return False
    if torch.jit.is_tracing() or compiling() or not cpu_bf16_autocast():
        return False
    if torch.is_grad_enabled() and (
        x.requires_grad or any(p.requires_grad for p in encoder.parameters())
    ):
        return False
    return available()


@contextlib.contextmanager
def scope(enabled: bool) -> Iterator[None]:
    """Within: `call` runs plain linear layers as int8 GEMMs (when enabled; a no-op otherwise)."""
    token = _scope.set(Workspace() if enabled else None)
    try:
        yield
    finally:
        _scope.reset(token)


def plain_linear(layer: nn.Module) -> bool:
    """An nn.Linear itself (not LoRA's or another subclass) that no hook expects to be called."""
    return type(layer) is nn.Linear and not (layer._forward_hooks or layer._forward_pre_hooks)


def call(
    layer: nn.Module, x: torch.Tensor, act: Callable[[torch.Tensor], torch.Tensor] | None = None
) -> torch.Tensor:
    """layer(x), then act when given; inside an int8 scope a plain linear layer runs as an int8
    GEMM on x's last dimension (bf16 out, as under autocast), an exact GELU act fused into it."""
    buffers = _scope.get()
    if buffers is None or not plain_linear(layer):
        out = layer(x)
        return out if act is None else act(out)
    gelu = type(act) is nn.GELU and act.approximate == "none"
    flat = x.reshape(-1, x.shape[-1])
    out = linear(flat, layer, gelu, buffers).view(*x.shape[:-1], -1)
    return out if act is None or gelu else act(out)


def int8_encoder(model: nn.Module) -> nn.Module | None:
    """model.image_encoder when it has the int8 switch (a bool attribute `int8`: SAM 1's and SAM
    3's ViT, SAM 2.1's Hiera), else None (TinyViT)."""
    encoder = getattr(model, "image_encoder", None)
    return encoder if isinstance(getattr(encoder, "int8", None), bool) else None
