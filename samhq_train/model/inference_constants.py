"""Per-forward constants kept between inference calls: tensors that depend only on the input's
size and a few parameters (SAM 2.1's Hiera position embedding, its FPN neck's sine encodings),
recomputed by every forward otherwise.

An entry is kept and served only where autograd records nothing (inference mode or grad off) and
nothing traces or compiles the forward (torch.jit tracing, ONNX export, torch.compile must see the
ops); training and those paths compute the constant each time, as before. An entry is valid for
its key: what the caller says the constant depends on (size, dtype, device) plus the autocast
state and the parameters' identity, storage and version, so that a weight load, an optimizer step
or a move to another device makes it again. The served tensors are shared between calls: read
them, do not write into them."""

from __future__ import annotations

from collections.abc import Callable, Hashable

import torch
from torch import nn

from samhq_train.compat import autocast_dtype

from .cpu_int8 import compiling


def keeps_constants() -> bool:
    """Whether this call may keep and serve constants: no autograd, no tracing or compiling."""
    if torch.jit.is_tracing() or compiling():
        return False
    return torch.is_inference_mode_enabled() or not torch.is_grad_enabled()


def _version(tensor: torch.Tensor) -> int:
    try:
        return tensor._version
    except RuntimeError:  # an inference tensor (made under inference_mode) has no version counter
        return -1


def parameters_key(*params: nn.Parameter) -> tuple:
    """What a constant made from `params` is valid for: each one's identity, storage, version,
    dtype and device (load_state_dict and optimizer steps write in place: the version moves)."""
    return tuple((id(p), p.data_ptr(), _version(p), p.dtype, p.device) for p in params)


def _autocast_state(device: torch.device) -> torch.dtype | None:
    return autocast_dtype(device.type)


class ConstantCache:
    """One module's constants, one entry per name (the last key it was made for). Not copied
    with the module (deepcopy, pickling): a copy starts empty."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[Hashable, torch.Tensor]] = {}

    def get(
        self, name: str, key: Hashable, device: torch.device, make: Callable[[], torch.Tensor]
    ) -> torch.Tensor:
        """make(), kept under `name` for `key` (+ the autocast state on `device`) where
        keeps_constants(); elsewhere make() every time, nothing kept."""
        if not keeps_constants():
            return make()
        key = (key, _autocast_state(device))
        entry = self._entries.get(name)
        if entry is not None and entry[0] == key:
            return entry[1]
        value = make()
        self._entries[name] = (key, value)
        return value

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)

    def __deepcopy__(self, memo) -> ConstantCache:
        return ConstantCache()

    def __getstate__(self) -> dict:
        return {"_entries": {}}


def forget_constants(model: nn.Module) -> None:
    """Empty the constant caches of `model`'s modules (A/B timings of the uncached path)."""
    for module in model.modules():
        cache = getattr(module, "_constants", None)
        if isinstance(cache, ConstantCache):
            cache.clear()
