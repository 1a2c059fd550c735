"""What differs between the releases the project supports, from pyproject.toml's floors (torch
2.3, what ran there: docs/versions.md) to the newest: one home for version checks. Only the
standard library at import (a command's entry imports it before the command's own modules, in
errors.command_entry); torch and PIL are imported by the functions that use them, whose callers
have them loaded already.
"""

from __future__ import annotations

import functools
import re
from importlib import metadata

# the releases a user installs apart from pip's resolution (a CUDA index, conda): their floors
# are checked before a command starts, one line instead of a traceback from deep inside torch
CHECKED_RELEASES = ("torch", "torchvision")
_FLOOR = re.compile(r"^([A-Za-z0-9_.-]+)\s*(?:\[[^\]]*\])?\s*>=\s*([0-9][0-9.]*)")


def _release(version: str) -> tuple[int, ...]:
    """The leading numbers: 2.3.1+cu121 -> (2, 3, 1), 2.5.0a0 -> (2, 5, 0)."""
    return tuple(int(part) for part in re.match(r"\d+(?:\.\d+)*", version).group().split("."))


def too_old_release(requirements: list[str] | None = None) -> str | None:
    """The one line that says which of CHECKED_RELEASES is older than the floor samhq-train's
    metadata (pyproject.toml's dependencies) asks for, or None. None also where the project is
    not installed (a clone on PYTHONPATH: no metadata to read) or the release is not there (its
    import fails on its own)."""
    if requirements is None:
        try:
            requirements = metadata.requires("samhq-train") or []
        except metadata.PackageNotFoundError:
            return None
    for line in requirements:
        found = _FLOOR.match(line)
        if found is None or ";" in line or found.group(1).lower() not in CHECKED_RELEASES:
            continue
        name, floor = found.group(1), found.group(2)
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        if _release(installed) < _release(floor):
            return (f"samhq-train needs {name}>={floor}, found {name} {installed}: "
                    f"pip install -U '{name}>={floor}'")
    return None


@functools.cache
def onnx_torchscript_exporter() -> dict:
    """torch.onnx.export's keywords that pick the TorchScript exporter: `dynamo=False` from torch
    2.5 (the dynamo exporter, the default from 2.9, needs onnxscript); torch 2.3 and 2.4 have no
    `dynamo` keyword and only that exporter."""
    import inspect

    import torch

    return {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}


def autocast_dtype(device_type: str):
    """The dtype autocast runs in on `device_type` ("cpu", "cuda"), None where it is off (or the
    device has no autocast). torch 2.4 added the device argument of is_autocast_enabled and
    get_autocast_dtype; torch 2.3 has one function pair per device (CUDA's without a name)."""
    import torch

    if hasattr(torch, "get_autocast_dtype"):
        try:
            on = torch.is_autocast_enabled(device_type)
        except RuntimeError:  # a device without autocast
            return None
        return torch.get_autocast_dtype(device_type) if on else None
    if device_type == "cpu":
        return torch.get_autocast_cpu_dtype() if torch.is_autocast_cpu_enabled() else None
    return torch.get_autocast_gpu_dtype() if torch.is_autocast_enabled() else None


@functools.cache
def tiff_size_turned_at_open() -> bool:
    """Whether PIL's size of a TIFF opened (not yet decoded) is its upright size. libtiff applies
    a TIFF's Orientation tag while decoding (in OpenCV and PIL alike); Pillow 11 gives the turned
    size at open, Pillow 9 and 10 the stored one until the pixels are decoded."""
    from PIL import Image

    return _release(Image.__version__) >= (11,)
