"""The table of checkpoint formats: one FormatRecord each, defined beside its probe, reader and
writer. A new format (an ONNX encoder, a SAM 3 file) is a module with its record plus its line
here; detection, inspect, loading, saving and the CLIs' --format / --to choices follow."""

from __future__ import annotations

from .base import CheckpointError, FormatRecord
from .lightning import LIGHTNING, LIGHTNING_FULL
from .safetensors_files import DELTA, HQ_ONLY, SAFETENSORS
from .torch_files import HQ_DECODER, SAM, SAM_HQ
from .transformers_dir import TRANSFORMERS

RECORDS: dict[str, FormatRecord] = {
    r.name: r
    for r in (
        SAM, SAM_HQ, TRANSFORMERS, SAFETENSORS, HQ_ONLY, DELTA, HQ_DECODER, LIGHTNING,
        LIGHTNING_FULL,
    )
}
FORMATS = tuple(RECORDS)
SAVE_FORMATS = tuple(name for name, r in RECORDS.items() if r.write is not None)
FORMAT_ALIASES = {alias: r.name for r in RECORDS.values() for alias in r.aliases}


def canonical_format(format: str | None) -> str | None:
    """The current name of a format (earlier names accepted); None stays None (detect)."""
    return FORMAT_ALIASES.get(format, format) if format is not None else None


def record_of(format: str, path=None) -> FormatRecord:
    """The record of a format name (or an alias); an unknown name is one line."""
    name = canonical_format(format)
    if name not in RECORDS:
        where = f" for {path}" if path is not None else ""
        raise CheckpointError(f"unknown checkpoint format {format!r}{where}; use one of {FORMATS}")
    return RECORDS[name]
