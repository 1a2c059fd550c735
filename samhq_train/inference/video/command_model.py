"""samhq-video's model: the --variant checked before anything is read, the --checkpoint loaded
(one line naming it when it does not load or cannot track), and what is made of it: the tracking
predictor (--hq / --no-hq, the note on untrained HQ parts) and --text's concept detector."""

from __future__ import annotations

import argparse
import sys

import torch

from samhq_train.errors import UserError
from samhq_train.model import (
    VIDEO_FAMILIES,
    CheckpointError,
    family_of_variant,
    load_checkpoint,
)
from samhq_train.model.sam3.concept.detector import NoDetectorError
from samhq_train.model.sam3.tracking import VideoPartsMissing

from ..command_options import checkpoint_refusal, flag_hints, hq_choice
from ..concept import ConceptPredictor
from .checkpoint_parts import NOT_SAM2
from .concept_tracking import NEEDS_SAM3
from .predictor import VideoPredictor


class VideoInputError(UserError):
    """An input of samhq-video that cannot be used; the message names it."""


def check_variant(variant: str | None, text: bool = False) -> None:
    """A --variant of another family (with --text: not SAM 3) is refused before anything is
    read."""
    if variant is None:
        return
    family = family_of_variant(variant).name
    if family not in VIDEO_FAMILIES:
        raise VideoInputError(f"--variant {variant} is a {family} model: {NOT_SAM2}")
    if text and family != "sam3":
        raise VideoInputError(f"--text: --variant {variant} is a {family} model; {NEEDS_SAM3}")


def load_model(args: argparse.Namespace):
    try:
        with flag_hints():
            model = load_checkpoint(
                args.checkpoint, variant=args.variant, format=args.format, base_checkpoint=args.base
            )
    except (CheckpointError, FileNotFoundError) as err:
        raise VideoInputError(
            checkpoint_refusal(f"--checkpoint {args.checkpoint}", args.checkpoint, err)) from None
    if getattr(model, "family", None) not in VIDEO_FAMILIES:
        raise VideoInputError(
            f"--checkpoint {args.checkpoint} is a {getattr(model, 'family', '?')} model: {NOT_SAM2}"
        )
    return model


def tracking_predictor(args: argparse.Namespace, model) -> VideoPredictor:
    """The VideoPredictor of the loaded model, with HQ as --hq / --no-hq or the weights say; a
    model without video parts is one line naming --checkpoint, the note on untrained HQ parts
    printed only after it (an error is the one line printed)."""
    use_hq, note = hq_choice(model, args.hq)
    try:
        predictor = VideoPredictor(
            model, use_hq=use_hq, objects=args.objects, fill_hole_area=args.fill_hole_area
        )
    except VideoPartsMissing as err:
        raise VideoInputError(f"--checkpoint {args.checkpoint}: {err}") from None
    if note is not None:
        print(note, file=sys.stderr)
    return predictor


def concept_predictor(args: argparse.Namespace, model) -> ConceptPredictor:
    """--text's detector on the loaded model: an HQ-SAM 3 / SAM 3 file with the detector, a
    readable --bpe (each refused in one line before any frame is resized)."""
    try:
        return ConceptPredictor(
            model, args.bpe, threshold=args.threshold,
            amp_dtype=torch.bfloat16 if args.bf16 else None,
        )
    except NoDetectorError as err:
        raise VideoInputError(f"--checkpoint {args.checkpoint}: {err}") from None
