"""Our safetensors files: the full model (`safetensors`), the HQ parameters alone (`hq_only`) and
what a run trained (`delta`: HQ parameters plus LoRA A/B or the decoder, with the policy that
re-applies it). Our metadata says which ("contents"); a file without it that holds only HQ keys
is HQ-only."""

from __future__ import annotations

import json
import os
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from samhq_train.files import atomic_write

from ..policy import as_policy, trained_state_dict
from ..provenance import Provenance
from ..registry import VARIANTS
from .base import (
    FormatRecord,
    Found,
    Read,
    cpu_tensors,
    family_of,
    hq_state_dict,
    onto_base_record,
    plain_weights_record,
    whole_model,
    without_wrapper_prefixes,
)
from .errors import recorded_provenance, unreadable

SUFFIX = ".safetensors"
DAMAGED = "safetensors (damaged or another format)"
OURS = "samhq_train"  # metadata["format"] of the files we write


def looks_like_safetensors(path: Path) -> bool:
    """safetensors: an 8-byte little-endian header length, then a JSON object."""
    with open(path, "rb") as handle:
        head = handle.read(9)
    if len(head) < 9 or head[8:9] != b"{":
        return False
    return 0 < int.from_bytes(head[:8], "little") <= max(path.stat().st_size - 8, 0)


def header(path: Path) -> tuple[list[str], dict]:
    """(tensor names, metadata) from the header alone."""
    if path.stat().st_size == 0:  # safetensors' own word for it: "header too small"
        raise unreadable(path, DAMAGED, "the file is empty (0 bytes)")
    try:
        with safe_open(str(path), "pt") as handle:
            return list(handle.keys()), handle.metadata() or {}
    except Exception as err:  # safetensors raises several error types for damaged files
        raise unreadable(path, DAMAGED, str(err).splitlines()[0]) from None


def probe(path: Path) -> Found:
    """safetensors, hq_only or delta, from the header alone (held: the metadata)."""
    keys, metadata = header(path)
    keys = list(without_wrapper_prefixes(dict.fromkeys(keys)))
    family = family_of(dict.fromkeys(keys))
    if metadata.get("contents") in ("hq_only", "delta"):
        format = metadata["contents"]
    else:
        format = "hq_only" if keys and all(family.is_hq_key(k) for k in keys) else "safetensors"
    variant = metadata.get("variant")
    provenance = delta_provenance(path, metadata) if format == "delta" else Provenance()
    return Found(
        format, metadata, family.name, variant if variant in VARIANTS else None, provenance
    )


def delta_provenance(path: Path, metadata: dict) -> Provenance:
    """The variant and policy a delta file records."""
    try:
        policy = json.loads(metadata.get("policy", '"hq"'))
    except json.JSONDecodeError:
        raise unreadable(path, "a delta file", "its 'policy' metadata is not valid json") from None
    name = policy.get("name") if isinstance(policy, dict) else policy
    settings = policy if isinstance(policy, dict) else None
    record = {"variant": metadata.get("variant"), "policy": name, "policy_settings": settings}
    return recorded_provenance(path, "a delta file", record)


def _read(path: Path, held) -> Read:
    try:
        return Read(without_wrapper_prefixes(load_file(str(path))))
    except Exception as err:
        raise unreadable(path, DAMAGED, str(err).splitlines()[0]) from None


def _read_delta(path: Path, held: dict | None) -> Read:
    metadata = held if held is not None else header(path)[1]
    return Read(_read(path, None).state, delta_provenance(path, metadata))


def _writer(contents: str, select):
    def write(model: nn.Module, path: str | os.PathLike, variant: str, policy) -> None:
        tensors = cpu_tensors(select(model, policy))
        meta = {"format": OURS, "contents": contents, "variant": variant}
        if contents == "delta":
            meta["policy"] = json.dumps(as_policy(policy).to_dict())
        atomic_write(path, lambda tmp: save_file(tensors, tmp, metadata=meta))

    return write


def _hq(model: nn.Module, policy) -> dict:
    return hq_state_dict(model.state_dict())


# every file of ours is found alike (one container); the header tells which (probe)
_OURS = dict(container="safetensors", probe=probe, suffixes=(SUFFIX,), sniff=looks_like_safetensors)

SAFETENSORS = plain_weights_record(
    what="a full safetensors export",
    name="safetensors",
    summary="our full model in safetensors, official key names",
    **_OURS,
    read=_read,
    expected_keys=whole_model,
    write=_writer("full", whole_model),
)

def _onto_base(*, holds: str, **fields) -> FormatRecord:
    """A file of ours that makes a model only on top of its base (onto_base_record)."""
    return onto_base_record(holds=holds, **_OURS, **fields)


HQ_ONLY = _onto_base(
    holds="the HQ parameters",
    name="hq_only",
    summary="our HQ-only safetensors (the HQ modules alone, a few MB), applied onto a base",
    read=_read,
    expected_keys=_hq,
    write=_writer("hq_only", _hq),
)

DELTA = _onto_base(
    holds="the parameters a run trained (a delta export)",
    name="delta",
    summary="what a run trained (HQ parameters, plus LoRA A/B or the decoder) and its policy, "
    "applied onto a base",
    read=_read_delta,
    expected_keys=trained_state_dict,
    write=_writer("delta", trained_state_dict),
    writes_merged=False,  # the LoRA A/B themselves: the policy re-applies them
)
