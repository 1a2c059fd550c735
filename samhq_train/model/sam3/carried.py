"""Tensors a model keeps only to give them back: SAM 3's detector (text / exemplar queries) and
its tracker's video memory have no forward here, yet a Meta file holds them and an export must
hand them back unchanged. They are adopted from the state dict being loaded, as persistent
buffers at their official paths (so state_dict() has Meta's names, and no optimizer or policy
sees them)."""

import torch
from torch import nn


def carry(root: nn.Module, key: str, tensor: torch.Tensor) -> None:
    """Register `tensor` as the buffer `key` (dotted path) of root, creating empty containers
    along the path where no module exists."""
    *path, name = key.split(".")
    module = root
    for part in path:
        child = module._modules.get(part)
        if child is None:
            if hasattr(module, part):
                raise ValueError(f"cannot carry {key}: {part} is not a module")
            child = nn.Module()
            module.add_module(part, child)
        module = child
    if name in module._parameters or name in module._modules:
        raise ValueError(f"cannot carry {key}: the model computes it (a parameter or module)")
    module.register_buffer(name, tensor, persistent=True)


def adopt(root: nn.Module, state: dict[str, torch.Tensor], is_carried) -> list[str]:
    """Carry the keys of `state` that root lacks and is_carried(key) accepts; returns them."""
    own = set(root.state_dict().keys())
    new = [k for k in state if k not in own and is_carried(k)]
    for key in new:
        carry(root, key, torch.empty_like(state[key]))  # load_state_dict fills it
    return new
