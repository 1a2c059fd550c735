"""File problems found while inspecting or reading a checkpoint, worded two ways: on their own
(load_checkpoint, the scripts) and as the value of a setting (model.checkpoint=, ckpt_path=)."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

from samhq_train.errors import UserError

from ..policy import as_policy
from ..provenance import Provenance
from ..registry import VARIANTS
from .base import CheckpointError

# the types of a recorded Provenance's fields (None is allowed for all but these: REQUIRED)
RECORD_TYPES = {
    "variant": str, "base_checkpoint": str, "base_sha256": str, "seed": int, "policy": str,
    "policy_settings": dict, "whole_model": bool, "trained_hq": bool,
}
REQUIRED = ("policy", "whole_model")
# a record type in a refusal's words
TYPE_WORDS = {str: "a string", int: "a whole number", dict: "a mapping", bool: "true or false"}


class FileProblem(CheckpointError):
    """A checkpoint file that is not what was asked. `problem` follows the file's name
    ("is a folder ...", "cannot be read as ...: ..."); str() is the message without a setting."""

    def __init__(self, path: str | os.PathLike, problem: str, message: str | None = None):
        super().__init__(message or f"{path} {problem}")
        self.path, self.problem = Path(path), problem

    def for_setting(self, setting: str, hint: str) -> CheckpointError:
        """The same problem as the value of `setting`, with what that setting takes."""
        sep = ";" if ":" in self.problem else ":"
        return CheckpointError(f"{setting}={self.path} {self.problem}{sep} {hint}")


def not_found(path: str | os.PathLike) -> FileProblem:
    return FileProblem(
        path, "not found", f"checkpoint not found: {path} (give the path of a local file or folder)"
    )


def unreadable(path: str | os.PathLike, kind: str, why: str) -> FileProblem:
    """A file that could not be read as `kind` ("a PyTorch checkpoint", ...), `why` briefly; the
    kind stays in the wording for a setting too (what the file had to be)."""
    return FileProblem(
        path, f"cannot be read as {kind}: {why}", f"could not read {path} as {kind}: {why}"
    )


def starts_like_torch(path: str | os.PathLike) -> bool:
    """A zip archive (torch.save since 1.6) or a pickle (the legacy format)."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"


def describe_read_error(path: str | os.PathLike, err: BaseException) -> str:
    """What a failed torch.load says about the file, in a few words (never torch's paragraph
    of advice about weights_only)."""
    path = Path(path)
    size = path.stat().st_size if path.is_file() else None
    if size == 0:
        return "the file is empty (0 bytes)"
    if isinstance(err, EOFError) or "unexpected EOF" in str(err):
        return "the file ends early (truncated: copy or download it again)"
    if zipfile.is_zipfile(path):
        if holds_python_objects(path, err):
            return "it holds Python objects other than tensors, not a weights file"
        return f"the archive is damaged ({str(err).splitlines()[0].split('. ')[0]})"
    if starts_like_torch(path):
        return (
            "the file is truncated or damaged (an incomplete PyTorch archive: copy or download "
            "it again)"
        )
    return "it is not a PyTorch file (random bytes or another format)"


def holds_python_objects(path: str | os.PathLike, err: BaseException) -> bool:
    """Whether a weights-only torch.load failed on a complete archive because it holds Python
    objects (not because the file is damaged)."""
    objects = isinstance(err, pickle.UnpicklingError) or "weights_only" in str(err).lower()
    return objects and zipfile.is_zipfile(path)


def recorded_provenance(path: str | os.PathLike, kind: str, record) -> Provenance:
    """The Provenance a file records (a training checkpoint's "samhq" mapping, a delta's
    metadata), checked: a record of the wrong shape, with fields this version does not know (a
    newer one wrote it), an unknown variant or a policy that cannot be rebuilt is one FileProblem
    naming the file, not an error about a setting never given."""
    if record is not None and not isinstance(record, dict):
        raise unreadable(path, kind, f"its record is a {type(record).__name__}, not a mapping")
    unknown = sorted(str(key) for key in record or {} if key not in RECORD_TYPES)
    if unknown:  # what rebuilds the model may be among them: never dropped in silence
        fields = ", ".join(unknown)
        raise unreadable(
            path, kind, f"its record has fields this samhq-train does not know ({fields}): it "
            "was written by a newer version; update samhq-train to read it"
        )
    provenance = Provenance.from_dict(record)
    for key, kind_of_value in RECORD_TYPES.items():
        value = getattr(provenance, key)
        if (value is None and key not in REQUIRED) or (  # a bool is an int, but not a seed
            isinstance(value, kind_of_value) and isinstance(value, bool) == (kind_of_value is bool)
        ):
            continue
        expected = TYPE_WORDS[kind_of_value]
        raise unreadable(path, kind, f"its record's {key!r} is {value!r}, not {expected}")
    if provenance.variant is not None and provenance.variant not in VARIANTS:
        raise unreadable(path, kind, f"it records an unknown variant {provenance.variant!r}")
    try:
        as_policy(provenance.policy_settings or provenance.policy)
    except (UserError, TypeError, ValueError) as err:
        raise unreadable(path, kind, f"its recorded policy cannot be rebuilt ({err})") from None
    return provenance
