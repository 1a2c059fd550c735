"""A cache entry file's content, for comparing entries written by different builds."""

from pathlib import Path

import torch
from safetensors import safe_open


def entry_content(path: Path) -> tuple[dict, dict]:
    """(metadata, {name: tensor bytes}) of an entry file (safetensors orders its metadata at
    random, so files of equal entries can differ byte for byte)."""
    with safe_open(str(path), "pt") as f:
        tensors = {
            n: f.get_tensor(n).reshape(-1).view(torch.uint8).numpy().tobytes() for n in f.keys()
        }
        return f.metadata(), tensors
