"""What every checkpoint format shares: the record type, the uses a file may be put to, the
error, and which of a state dict's keys are HQ (the model family's rule, never the policy)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import torch
from torch import nn

from samhq_train.errors import UserError

from ..lora import is_lora_key
from ..provenance import Provenance
from ..registry import FAMILIES, Family, family_of_model, family_of_state

TORCH_SUFFIXES = (".pth", ".pt", ".bin")
State = dict[str, torch.Tensor]

# a Lightning training checkpoint's entries (ours: lightning.py): the tensors (the model's under
# MODEL_PREFIX), our record, the loop state, and Lightning's version stamp
STATE_KEY = "state_dict"
MODEL_PREFIX = "model."
PROVENANCE_KEY = "samhq"
LOOP_STATE_KEY = "loops"
LIGHTNING_VERSION_KEY = "pytorch-lightning_version"
# what a wrapper module puts before every key of the model it wraps: DistributedDataParallel and
# DataParallel ("module."), torch.compile ("_orig_mod.")
WRAPPER_PREFIXES = ("module.", "_orig_mod.")


class CheckpointError(UserError, ValueError):
    """A checkpoint that cannot be used as asked; the message names the file and the fix."""


class Use(str, Enum):
    """What a checkpoint file may be used for."""

    START = "start training"  # model.checkpoint: the weights a run starts from
    RESUME = "resume"  # ckpt_path: continue a run where it stopped
    EVALUATE = "evaluate"  # load_checkpoint: build a whole model (with a base where needed)
    EXPORT = "export"  # samhq-export input


ALL_USES = frozenset(Use)


@dataclass(frozen=True)
class Read:
    """What one read of a file gave: the state dict (official key names) and the record the file
    carries (empty for files that hold a whole model)."""

    state: State
    provenance: Provenance = field(default_factory=Provenance)


@dataclass(frozen=True)
class Found:
    """What looking at a file told, before its tensors are read: the format, what was loaded on
    the way (`held`, handed to the reader so the file is read once), and what the file says
    about itself."""

    format: str
    held: Any = None
    family: str | None = None
    variant: str | None = None
    provenance: Provenance = field(default_factory=Provenance)
    refusals: dict[Use, str] = field(default_factory=dict)  # beyond the format's own


@dataclass(frozen=True)
class FormatRecord:
    """Everything the project knows about one checkpoint format.

    Detecting: formats stored alike share a `container` and its probe(path) -> Found, which
    tells them apart (sam / sam_hq by their keys, safetensors / hq_only / delta by the header).
    A file's container is found from its name (`suffixes`, a folder: `folder`), else from its
    first bytes (`sniff`).
    read(path, held) -> Read: `held` is what inspecting the file already loaded (or None).
    write(model, path, variant, policy) -> None, or None when the format is read-only.
    check_writable(model, variant, path): refuses (CheckpointError) a model the format cannot
    hold, as write would, but before anything is written (export checks every target first).
    expected_keys(model, policy): the model's tensors a file of this format holds.
    optional_keys(model): tensors a file may hold beyond those, ignored when absent.
    refusals: for each use the format is not for, why (after "<file> "), and what to give.
    """

    name: str
    summary: str
    container: str  # torch | safetensors | transformers | lightning: how the file is stored
    probe: Callable[[Path], Found]
    uses: frozenset[Use]
    read: Callable[[Path, Any], Read]
    expected_keys: Callable[[nn.Module, Any], State]
    suffixes: tuple[str, ...] = ()
    folder: bool = False
    sniff: Callable[[Path], bool] | None = None
    write: Callable[..., None] | None = None
    check_writable: Callable[[nn.Module, str, Path], Any] | None = None
    needs_base: bool = False  # only makes a model on top of a base checkpoint
    holds: str = ""  # with needs_base: what the file holds, as its refusals word it
    records_base: bool = False  # the file says where its base is (or the seed of a random one)
    writes_merged: bool = True  # written from the LoRA-merged model (consumers need no LoRA)
    optional_keys: Callable[[nn.Module], State] = lambda model: {}
    refusals: dict[Use, str] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()


def plain_weights(what: str) -> str:
    """The refusal of a whole model's weights as a run to resume."""
    return (
        f"is plain model weights ({what}), not a training checkpoint: to start training from it "
        "pass model.checkpoint={path}"
    )


def plain_weights_record(*, what: str, **fields) -> FormatRecord:
    """The record of a format of a whole model's plain weights: fit for every use but resuming a
    run, which is refused naming `what` the file is."""
    return FormatRecord(
        uses=ALL_USES - {Use.RESUME}, refusals={Use.RESUME: plain_weights(what)}, **fields
    )


_BASE_ONLY = (
    "holds only {what}: it only makes a model together with the base it was trained on; to "
    "train on from it, merge it into that base first (samhq-export --checkpoint {{path}} --base "
    "<that base file> --to sam_hq --out {{path.parent}} --name {{path.stem}}_merged) and pass "
    "model.checkpoint={{path.parent}}/{{path.stem}}_merged.pth"
)


def onto_base_record(*, holds: str, **fields) -> FormatRecord:
    """The record of a format that makes a model only on top of its base: to evaluate and export
    with, not to start or resume training from (the refusal says it holds only `holds`)."""
    refusal = _BASE_ONLY.format(what=holds)
    return FormatRecord(
        uses=frozenset({Use.EVALUATE, Use.EXPORT}),
        needs_base=True,
        holds=holds,
        refusals={use: refusal for use in (Use.START, Use.RESUME)},
        **fields,
    )


def whole_model(model: nn.Module, policy) -> State:
    """Every tensor of the model: the expected keys of a file that holds the whole model."""
    return model.state_dict()


def family_of(state: dict) -> Family:
    return family_of_state(state) or FAMILIES["sam1"]


def hq_state_dict(model_or_state: nn.Module | dict) -> State:
    """The HQ entries (the family's HQ key set) of a model's or a state dict's tensors."""
    if isinstance(model_or_state, nn.Module):
        family, state = family_of_model(model_or_state), model_or_state.state_dict()
    else:
        family, state = family_of(model_or_state), model_or_state
    return {k: v for k, v in state.items() if family.is_hq_key(k)}


def without_hq(state: State) -> State:
    """A state dict minus its HQ entries: what an official SAM file of the same model holds."""
    family = family_of(state)
    return {k: v for k, v in state.items() if not family.is_hq_key(k)}


def detect_variant(state: State) -> str | None:
    """The registry variant whose shapes a (full or HQ-only) official state dict has."""
    family = family_of_state(state)
    if family is None:
        return None
    try:
        return family.detect_variant(state)
    except ValueError as err:  # a state dict the family cannot serve; the message names the key
        raise CheckpointError(str(err)) from None


def without_wrapper_prefixes(state: dict) -> dict:
    """A state dict saved from a wrapped model (every key starting with "module." or
    "_orig_mod.", nested in any order) with the official key names; any other as it is."""
    while state:
        prefix = next((p for p in WRAPPER_PREFIXES if all(k.startswith(p) for k in state)), None)
        if prefix is None:
            return state
        state = {k[len(prefix) :]: v for k, v in state.items()}
    return state


def without_lora(state: dict) -> dict:
    return {k: v for k, v in state.items() if not is_lora_key(k)}


def cpu_tensors(state: State) -> State:
    return {k: v.detach().cpu().contiguous() for k, v in state.items()}
