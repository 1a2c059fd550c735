"""What a SAM 3 weights file lacks for tracking (samhq-video, the app's video page), told from its
key names before a model is built: the tracker's video parts and, for text prompts, the concept
detector. What the names do not tell (a training checkpoint, a transformers folder) the model's
own checks word after loading (Sam3Tracker's VideoPartsMissing, concept_detector)."""

from __future__ import annotations

from pathlib import Path

from samhq_train.constants import SAM3_DETECTOR_FILES, SAM3_VIDEO_FILES
from samhq_train.model import VIDEO_FAMILIES, CheckpointError, inspect
from samhq_train.model.formats import sam3_file_keys
from samhq_train.model.formats.inspection import Inspection
from samhq_train.model.sam3.model import VIDEO_PREFIXES

from ..concept import NO_DETECTOR, file_without_detector

NOT_SAM2 = "video tracking needs an HQ-SAM 2 / SAM 2.1 model or an HQ-SAM 3 / SAM 3 model"
NO_VIDEO_PARTS = (
    "has no video parts (no tracker.maskmem_backbone.* keys: an image-only SAM 3 file)"
)
VIDEO_NEEDS = f"tracking needs {SAM3_VIDEO_FILES}"
DETECTOR_NEEDS = f"text and exemplar prompts need {SAM3_DETECTOR_FILES}"


def tracking_refusal(info: Inspection, base=None, *, text: bool) -> str | None:
    """samhq-video's one line for the inspected --checkpoint when its header says it cannot do
    the job: a family that does not track, a SAM 2.1 file for text prompts, or missing_parts."""
    if info.family is not None and info.family not in VIDEO_FAMILIES:
        return f"--checkpoint {info.path} is a {info.family} model: {NOT_SAM2}"
    if text and info.family is not None and info.family != "sam3":
        return f"--checkpoint {info.path} is a {info.family} model; {DETECTOR_NEEDS}"
    return missing_parts(info, base, detector=text)


def missing_parts(info: Inspection, base=None, *, detector: bool) -> str | None:
    """The one line refusing the inspected --checkpoint (or the --base of an HQ-only one) when
    its key names show no concept detector (`detector`: text prompts are given) or no video
    parts; None when they hold them or do not tell."""
    lacking = file_without_detector(info, base) if detector else None
    if lacking is not None:
        return f"{_flag(lacking, info)} {lacking} {NO_DETECTOR}: {DETECTOR_NEEDS}"
    found = sam3_file_keys(info, base)
    if found is not None and not any(key.startswith(VIDEO_PREFIXES) for key in found[1]):
        return f"{_flag(found[0], info)} {found[0]} {NO_VIDEO_PARTS}: {VIDEO_NEEDS}"
    return None


def checkpoint_info(checkpoint, format: str | None = None) -> Inspection | None:
    """inspect(checkpoint), or None for a file that cannot be inspected (the loader words it)."""
    try:
        return inspect(checkpoint, format)
    except CheckpointError:
        return None


def _flag(path: Path, info: Inspection) -> str:
    return "--checkpoint" if path == info.path else "--base"
