"""The table of checkpoint formats: one FormatRecord each, defined beside its probe, reader and
writer. A new format (an ONNX encoder, a SAM 3 file) is a module with its record plus its line
here; detection, inspect, loading, saving and the CLIs' --format / --to choices follow."""

from __future__ import annotations

from ..provenance import Provenance
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


def holds_trained_hq(read_as: str | None, record: Provenance | None = None) -> bool:
    """Whether a file read as format `read_as` (None: no file, a random build) with `record`
    (what the file records, if anything) holds trained HQ parts: every format but Meta's plain
    weights ("sam"), whose HQ parts load at their fresh init, unless its record says they were
    never trained (a concept or video run's checkpoint); a record without the fact (an image
    run's, a whole-model checkpoint written before it) counts as trained.

    loading.untrained_hq is the commands' answer, from the file itself (its HQ keys, and whether
    it is a shipped demo base by its bytes); this one is the runs' (video, concept), from what
    their build read. They differ only on a shipped demo base read as a format with HQ keys: the
    SAM 1 one (safetensors; trained here, untrained there), which those runs refuse as another
    family; their SAM 2.1 / SAM 3 demo bases read as "sam", where both say untrained
    (tests/model/test_trained_hq_rules.py)."""
    if read_as is None or read_as == SAM.name:
        return False
    return record is None or record.trained_hq is not False


def record_of(format: str, path=None) -> FormatRecord:
    """The record of a format name (or an alias); an unknown name is one line."""
    name = canonical_format(format)
    if name not in RECORDS:
        where = f" for {path}" if path is not None else ""
        raise CheckpointError(f"unknown checkpoint format {format!r}{where}; use one of {FORMATS}")
    return RECORDS[name]
