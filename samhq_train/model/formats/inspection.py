"""inspect(path): what a checkpoint file is and what it may be used for, in one small record.

Every place that takes a checkpoint asks this: the model.checkpoint check (Use.START), the
ckpt_path check before resuming (Use.RESUME), load_checkpoint (Use.EVALUATE) and export's
read-back. What was loaded while looking at the file travels in the result, so reading it
afterwards (Inspection.read) does not read it again. sam3_file_keys reads a full SAM 3 file's key
names from it, for the commands that tell a missing part (the concept detector, the video parts)
before a model is built."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..provenance import Provenance
from .base import CheckpointError, FormatRecord, Found, Read, Use, without_wrapper_prefixes
from .errors import FileProblem, not_found
from .records import FORMATS, RECORDS, record_of
from .safetensors_files import header

# what each use takes, said after a setting's refused value
USE_HINTS = {
    Use.START: "{setting} takes the official SAM (or a SAM-HQ) weights file training starts from",
    Use.RESUME: "{setting} resumes a run from its outputs/<run>/checkpoints/last.ckpt",
    Use.EVALUATE: "{setting} takes a checkpoint in any format load_checkpoint reads",
    Use.EXPORT: "{setting} takes a checkpoint in any format load_checkpoint reads",
}


@dataclass(frozen=True)
class Inspection:
    """A checkpoint file: its format, family and variant where known, whether it needs a base
    checkpoint to make a model, what it may be used for, and the record it carries."""

    path: Path
    format: str
    family: str | None
    variant: str | None
    needs_base: bool
    uses: frozenset[Use]
    provenance: Provenance
    refusals: Mapping[Use, str] = field(default_factory=dict, repr=False)
    held: Any = field(default=None, repr=False, compare=False)

    @property
    def record(self) -> FormatRecord:
        return RECORDS[self.format]

    def allows(self, use: Use) -> bool:
        return use in self.uses

    def require(self, use: Use) -> Inspection:
        """self if the file may be used for `use`; else a FileProblem: why, and what to give."""
        if use not in self.uses:
            why = self.refusals.get(use, f"is {self.format}, which cannot be used to {use.value}")
            raise FileProblem(self.path, why.format(path=self.path))
        return self

    def read(self) -> Read:
        """The state dict (official key names) and record, from what inspecting held if it can."""
        return self.record.read(self.path, self.held)


def inspect(
    path: str | os.PathLike,
    format: str | None = None,
    *,
    use: Use | None = None,
    setting: str | None = None,
) -> Inspection:
    """What the checkpoint at `path` is (`format` overrides detection); with `use`, refuse a file
    not meant for it. Every problem is one CheckpointError line naming the file; with `setting`
    (e.g. "ckpt_path") it names the setting and says what that setting takes."""
    path = Path(path)
    try:
        info = _inspect(path, format)
        return info.require(use) if use is not None else info
    except FileProblem as err:
        if setting is None:
            raise
        raise as_setting(err, setting, use) from None


def sam3_file_keys(info: Inspection, base=None):
    """(the file, its official key names) of a full SAM 3 weights file, the inspected one or
    `base` when it needs one: a torch file's memory-mapped keys or a safetensors header, read
    before a model is built. None where the names are not read here (another family, a training
    checkpoint, a transformers folder, a base that cannot be inspected: the family check, the
    loader and the model's own checks word those)."""
    if info.needs_base and base is not None:
        try:
            info = inspect(base)
        except CheckpointError:
            return None
    if info.family != "sam3" or info.needs_base:
        return None
    if info.format in ("sam", "sam_hq") and isinstance(info.held, dict):
        return info.path, info.held.keys()  # the state dict inspecting held (memory-mapped)
    if info.format == "safetensors":
        return info.path, without_wrapper_prefixes(dict.fromkeys(header(info.path)[0])).keys()
    return None


@contextlib.contextmanager
def setting_named(setting: str, path: str | os.PathLike | None, use: Use) -> Iterator[None]:
    """A problem with the file at `path` (None: nothing to name) found inside the block, worded
    as `setting`'s value with what that setting takes (as inspect with `setting` does)."""
    try:
        yield
    except FileProblem as err:
        if path is None or err.path != Path(path):
            raise
        raise as_setting(err, setting, use) from None


def as_setting(err: FileProblem, setting: str, use: Use | None) -> CheckpointError:
    return err.for_setting(setting, USE_HINTS[use or Use.EVALUATE].format(setting=setting))


def _inspect(path: Path, format: str | None) -> Inspection:
    forced = record_of(format, path) if format is not None else None
    if not path.exists():
        raise not_found(path)
    if not (path.is_file() or path.is_dir()):  # a pipe or a device: reading it could wait forever
        raise FileProblem(path, "is not a file (a pipe or a device): give a checkpoint file")
    found = _probe_as(forced, path) if forced else _detect(path)
    record = forced or RECORDS[found.format]
    provenance = found.provenance
    rebuilds_itself = record.records_base and (
        provenance.base_checkpoint is not None or provenance.seed is not None
    )
    refusals = {**record.refusals, **found.refusals}
    return Inspection(
        path=path,
        format=record.name,
        family=found.family,
        variant=found.variant or provenance.variant,
        needs_base=record.needs_base and not rebuilds_itself,
        uses=record.uses - set(found.refusals),
        provenance=provenance,
        refusals=refusals,
        held=found.held,
    )


def _probe_as(record: FormatRecord, path: Path) -> Found:
    """The file read as the format given (format= / --format). A file of another format is
    refused naming the one detected: the format given, not the file's name, is what to change."""
    try:
        return record.probe(path)
    except FileProblem:
        try:
            detected = _detect(path).format
        except CheckpointError:
            detected = None
        if detected is None or detected == record.name:
            raise
        raise FileProblem(
            path,
            f"is a {detected} checkpoint, not {record.name} as the format given says: leave the "
            f"format out (it is detected from the file), or pass format={detected} (--format "
            f"{detected})",
        ) from None


def _detect(path: Path) -> Found:
    """The format from the name where it tells (a folder, a suffix), else from the first bytes;
    the records of one container share its probe, which tells them apart."""
    records = list(RECORDS.values())
    if path.is_dir():
        claims = [r for r in records if r.folder]
    else:
        claims = [r for r in records if path.suffix in r.suffixes]
        claims = claims or [r for r in records if r.sniff is not None and r.sniff(path)]
    if claims:
        return claims[0].probe(path)
    if path.suffix == ".onnx":  # what samhq-export writes for onnxruntime, given back to it
        raise FileProblem(
            path,
            "is an ONNX graph (for onnxruntime), not a checkpoint: give the checkpoint it was "
            "exported from",
        )
    raise FileProblem(
        path,
        "is neither a PyTorch file (.pth/.pt/.ckpt) nor safetensors nor a transformers directory",
        f"cannot tell the format of {path}: it is neither a PyTorch file (.pth/.pt/.ckpt) nor "
        "safetensors nor a transformers directory; give a checkpoint file, or pass the format "
        f"(format= / --format, one of {', '.join(FORMATS)})",
    )
