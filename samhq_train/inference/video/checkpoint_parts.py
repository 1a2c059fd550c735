"""What a SAM 3 weights file lacks for tracking (samhq-video, the app's video page), told from its
key names before a model is built: the tracker's video parts and, for text prompts, the concept
detector. What the names do not tell (a training checkpoint, a transformers folder) the model's
own checks word after loading (Sam3Tracker's VideoPartsMissing, concept_detector)."""

from __future__ import annotations

from pathlib import Path

from samhq_train.model import CheckpointError, inspect
from samhq_train.model.sam3.model import VIDEO_PREFIXES

from ..concept import NO_DETECTOR, file_without_detector, sam3_file_keys

NO_VIDEO_PARTS = (
    "has no video parts (no tracker.maskmem_backbone.* keys: an image-only SAM 3 file)"
)
VIDEO_NEEDS = "tracking needs Meta's sam3.pt or an HQ-SAM 3 checkpoint made from it"
DETECTOR_NEEDS = (
    "text and exemplar prompts need Meta's sam3.pt, or a full export of a model trained from it"
)


def missing_parts(checkpoint, format: str | None = None, base=None, *,
                  detector: bool) -> str | None:
    """The one line refusing --checkpoint (or the --base of an HQ-only one) when its key names
    show no concept detector (`detector`: text prompts are given) or no video parts; None when
    they hold them or do not tell (a file that cannot be inspected: the loader words it)."""
    try:
        info = inspect(checkpoint, format)
    except CheckpointError:
        return None
    lacking = file_without_detector(info, base) if detector else None
    if lacking is not None:
        return f"{_flag(lacking, checkpoint)} {lacking} {NO_DETECTOR}: {DETECTOR_NEEDS}"
    found = sam3_file_keys(info, base)
    if found is not None and not any(key.startswith(VIDEO_PREFIXES) for key in found[1]):
        return f"{_flag(found[0], checkpoint)} {found[0]} {NO_VIDEO_PARTS}: {VIDEO_NEEDS}"
    return None


def _flag(path: Path, checkpoint) -> str:
    return "--checkpoint" if path == Path(checkpoint) else "--base"
