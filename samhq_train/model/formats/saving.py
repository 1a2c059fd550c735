"""Write a model as one of the writable formats, atomically (a crash never leaves a half file)."""

from __future__ import annotations

import copy
import os
from pathlib import Path

from torch import nn

from ..lora import is_lora_key, merge_lora
from .base import CheckpointError, State, detect_variant, without_lora
from .records import RECORDS, SAVE_FORMATS, canonical_format, record_of


def plain_model(model: nn.Module) -> nn.Module:
    """The model with its LoRA adapters merged into plain weights (a copy; the model itself when
    it has none): what every format but `delta` is written from, so consumers need no LoRA code."""
    if any(is_lora_key(k) for k in model.state_dict()):
        return merge_lora(copy.deepcopy(model))
    return model


def expected_state(model: nn.Module, format: str, policy="hq") -> State:
    """The model's tensors a file of `format` holds (what export reads back and compares)."""
    return record_of(format).expected_keys(model, policy)


def save_checkpoint(
    model: nn.Module, path: str | os.PathLike, format: str, variant: str | None = None, policy="hq"
) -> Path:
    """Write `model` as one of SAVE_FORMATS.

    Full formats merge LoRA adapters into plain weights; `delta` holds exactly what `policy`
    trains (HQ parts, plus LoRA A/B or the decoder) and records the policy to re-apply it."""
    path = Path(path)
    name = canonical_format(format)
    if name not in SAVE_FORMATS:
        raise CheckpointError(f"cannot save format {format!r}; use one of {SAVE_FORMATS}")
    record = RECORDS[name]
    _check_name_fits(path, record)
    variant = _variant_to_write(model, variant)
    if record.writes_merged:
        model = plain_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    record.write(model, path, variant, policy)
    return path


def _check_name_fits(path: Path, record) -> None:
    """Refuse a file name that load_checkpoint would read as another container (safetensors
    named .pth, a SAM file named .ckpt): what was written would not load back by that name."""
    if record.folder:
        return
    readers = {r.container for r in RECORDS.values() if path.suffix in r.suffixes}
    if readers and record.container not in readers:
        fitting = path.with_suffix(record.suffixes[0])
        raise CheckpointError(
            f"{path}: a {path.suffix} file is read as {' / '.join(sorted(readers))}, but format "
            f"{record.name!r} writes {record.container}: name it {fitting}"
        )


def check_writable(
    model: nn.Module, path: str | os.PathLike, format: str, variant: str | None = None
) -> None:
    """Refuse (CheckpointError), before anything is written, a model that `format` cannot hold
    and save_checkpoint would refuse while writing (transformers: a SAM 1 ViT variant only)."""
    record = record_of(format)
    if record.check_writable is not None:
        record.check_writable(model, _variant_to_write(model, variant), Path(path))


def _variant_to_write(model: nn.Module, variant: str | None) -> str:
    return variant or detect_variant(without_lora(model.state_dict())) or "custom"
