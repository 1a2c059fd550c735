"""Whether a checkpoint's HQ parts are trained weights, the two answers side by side:
untrained_hq, from the file itself (load_checkpoint sets it as the model's `untrained_hq`; the
commands' note and plain decode), and holds_trained_hq, from the format a run's build read the
file as and its record (the video and concept runs' use_hq and what their checkpoints record)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..provenance import Provenance
from .base import State, family_of
from .demo_bases import is_shipped_demo_base
from .torch_files import SAM

# what a family's model is without its HQ parts, in a note's words
PLAIN_NAMES = {"sam1": "SAM", "sam2": "SAM 2.1", "sam3": "SAM 3"}


@dataclass(frozen=True)
class UntrainedHQ:
    """Why the HQ parts of a model loaded from `path` are not trained weights: load_checkpoint
    sets it as the model's `untrained_hq` (None there: the file held trained HQ parts)."""

    path: str
    reason: str  # after the file's name: "holds no HQ parts (a plain SAM 2.1 checkpoint)"
    plain: str  # the model without its HQ parts: "SAM", "SAM 2.1" or "SAM 3"

    def __str__(self) -> str:
        return f"{self.path} {self.reason}"


def untrained_hq(
    path: str | os.PathLike, state: State, record: Provenance | None = None
) -> UntrainedHQ | None:
    """The one rule for whether a checkpoint's HQ parts are trained: not when the file holds no
    HQ tensors (an official SAM / SAM 2.1 / SAM 3 file: the model keeps the HQ parts' fresh
    random init), nor in a shipped demo base (its HQ parts are their seeded init), nor when its
    `record` says so (a concept or video run from Meta's weights that left them as they were).
    An HQ-only or delta file (with its base), an image run's checkpoint, a SAM-HQ file and a
    concept / video run's checkpoint without that record (docs/checkpoints.md) hold trained
    ones."""
    family = family_of(state)
    plain = PLAIN_NAMES.get(family.name, family.name)
    if not any(family.is_hq_key(k) for k in state):
        return UntrainedHQ(str(path), f"holds no HQ parts (a plain {plain} checkpoint)", plain)
    if is_shipped_demo_base(path):
        return UntrainedHQ(str(path), "is a shipped demo base (its HQ parts are untrained)", plain)
    if record is not None and record.trained_hq is False:
        return UntrainedHQ(
            str(path), "is a run's checkpoint whose HQ parts were never trained (its run "
            "started from weights without them and did not train them)", plain,
        )
    return None


def holds_trained_hq(read_as: str | None, record: Provenance | None = None) -> bool:
    """Whether a file read as format `read_as` (None: no file, a random build) with `record`
    (what the file records, if anything) holds trained HQ parts: every format but Meta's plain
    weights ("sam"), whose HQ parts load at their fresh init, unless its record says they were
    never trained (a concept or video run's checkpoint); a record without the fact (an image
    run's, a whole-model checkpoint written before it) counts as trained.

    untrained_hq is the commands' answer, from the file itself (its HQ keys, and whether it is a
    shipped demo base by its bytes); this one is the runs' (video, concept), from what their
    build read. They differ only on a shipped demo base read as a format with HQ keys: the
    SAM 1 one (safetensors; trained here, untrained there), which those runs refuse as another
    family; their SAM 2.1 / SAM 3 demo bases read as "sam", where both say untrained
    (tests/model/test_trained_hq_rules.py)."""
    if read_as is None or read_as == SAM.name:
        return False
    return record is None or record.trained_hq is not False
