"""Our Lightning training checkpoints (*.ckpt): the trained parameters under "state_dict" with
the "model." prefix (SamHQModule keeps the model as `self.model`), the run's Provenance record
under "samhq" (what rebuilds the frozen rest: base file and sha256, or the random base's seed;
the policy; a concept or video run's: that it holds the whole model, and whether its HQ parts
are trained), and Lightning's optimiser and loop state ("loops": what resuming needs).

SamHQModule writes and checks its checkpoints with the names and keys defined here."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..policy import trained_state_dict
from ..provenance import Provenance
from ..registry import VARIANTS, family_of_variant
from .base import (
    LOOP_STATE_KEY,
    MODEL_PREFIX,
    PROVENANCE_KEY,
    STATE_KEY,
    CheckpointError,
    FormatRecord,
    Found,
    Read,
    Use,
    detect_variant,
    family_of,
    whole_model,
)
from .errors import FileProblem, recorded_provenance, unreadable
from .torch_files import is_tensor_dict, load_torch

SUFFIX = ".ckpt"
KIND = "a training checkpoint"
NO_TRAINING_STATE = (
    "is a training checkpoint without the training state (no optimizer or loop state)"
)


def checkpoint_keys(model: nn.Module, policy) -> set[str]:
    """The state_dict keys of a training checkpoint of `model` under `policy`."""
    return {MODEL_PREFIX + k for k in LIGHTNING.expected_keys(model, policy)}


def provenance_of(checkpoint: dict, path: Path | None = None) -> Provenance:
    """The record of a checkpoint's content; `path`: of a file, checked (recorded_provenance)."""
    if path is None:
        return Provenance.from_dict(checkpoint.get(PROVENANCE_KEY))
    return recorded_provenance(path, KIND, checkpoint.get(PROVENANCE_KEY))


def load(path: Path) -> dict:
    """The checkpoint's content, read once. Ours hold only tensors and plain values; a complete
    archive with Python objects in it (Lightning's own hyperparameters) is read in full."""
    content = load_torch(path, kind=KIND, python_objects=True)
    if not isinstance(content, dict) or STATE_KEY not in content:
        if is_tensor_dict(content):
            raise FileProblem(
                path,
                "holds plain model weights (an official or exported SAM / SAM-HQ file), not a "
                "training checkpoint: rename it to .pth, or pass format=sam_hq (--format sam_hq)",
            )
        raise FileProblem(path, f"is not a training checkpoint (no {STATE_KEY!r} in it)")
    state = content[STATE_KEY]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise unreadable(path, KIND, f"its {STATE_KEY!r} is not a mapping of tensors")
    return content


def probe(path: Path) -> Found:
    """lightning, with the content (read once) and its record; lightning_full for one of the
    whole model: a concept or video run's (its record says whole_model; written before that
    record, or by another program: none); a checkpoint without the loop state cannot resume."""
    content = load(path)
    provenance = provenance_of(content, path)
    refusals = {} if LOOP_STATE_KEY in content else {Use.RESUME: NO_TRAINING_STATE}
    if PROVENANCE_KEY not in content or provenance.whole_model:
        state = read(path, content).state
        try:
            variant = detect_variant(state)
        except CheckpointError:
            variant = None  # loading names the key that does not fit
        return Found("lightning_full", content, family_of(state).name, variant, provenance,
                     refusals)
    variant = provenance.variant if provenance.variant in VARIANTS else None
    family = family_of_variant(variant).name if variant else None
    return Found("lightning", content, family, variant, provenance, refusals)


def read(path: Path, held: dict | None) -> Read:
    content = held if held is not None else load(path)
    n = len(MODEL_PREFIX)
    state = {k[n:]: v for k, v in content[STATE_KEY].items() if k.startswith(MODEL_PREFIX)}
    return Read(state, provenance_of(content, path))


LIGHTNING = FormatRecord(
    name="lightning",
    summary="a training checkpoint (*.ckpt): the trained parameters plus what rebuilds the "
    "frozen rest (its base file or seed, and the policy)",
    container="lightning",
    probe=probe,
    suffixes=(SUFFIX,),
    uses=frozenset({Use.RESUME, Use.EVALUATE, Use.EXPORT}),
    read=read,
    expected_keys=trained_state_dict,
    needs_base=True,
    records_base=True,
    refusals={Use.START: "is a training checkpoint: to continue that run pass ckpt_path={path}"},
)

# concept and video runs record no base: their checkpoints hold the whole model, and their
# record (Provenance.whole_model) whether its HQ parts are trained (another program's Lightning
# checkpoint of a SAM model under "model.", and ours written before the record, have none)
LIGHTNING_FULL = FormatRecord(
    name="lightning_full",
    summary="a training checkpoint of the whole model (*.ckpt of a concept or video fine-tuning "
    "run): read as the whole model",
    container="lightning",
    probe=probe,
    suffixes=(SUFFIX,),
    uses=frozenset({Use.RESUME, Use.EVALUATE, Use.EXPORT}),
    read=read,
    expected_keys=whole_model,
    refusals=LIGHTNING.refusals,
)
