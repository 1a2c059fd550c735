"""samhq-app --video: the options, the video read and checked before the model, and the session
made once the model is known to track (SAM 2.1 / HQ-SAM 2, SAM 3 / HQ-SAM 3 with video parts)."""

from __future__ import annotations

import argparse
from pathlib import Path

from samhq_train.inference.concept import ConceptPredictor
from samhq_train.inference.video import ConceptVideoSession, ConceptVideoSettings, VideoPredictor
from samhq_train.inference.video.checkpoint_parts import NOT_SAM2, checkpoint_info, missing_parts
from samhq_train.inference.video.command_model import check_variant
from samhq_train.inference.video.concept_video.command_run import read_settings
from samhq_train.inference.video.frames import VideoFrames, open_video
from samhq_train.model import VIDEO_FAMILIES
from samhq_train.model.sam3.tracking import VideoPartsMissing

from .concept import DEFAULT_THRESHOLD
from .engine import AppError, Segmenter
from .video import VideoSession
from .video_text import VideoText

VIDEO_DEMO = "data/demo_base/sam2.1_hq_hiera_demo_base.pt"


def add_video_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--video", help="a video file (.mp4, .avi, .mov, .mkv, .webm) or a folder of JPEG/PNG "
        "frames: opens the video page (needs an HQ-SAM 2 / SAM 2.1 or HQ-SAM 3 / SAM 3 checkpoint)"
    )
    parser.add_argument(
        "--max-frames", type=int,
        help="with --video: only its first N frames (a video file is decoded no further)",
    )
    parser.add_argument(
        "--concept-settings", metavar="FILE",
        help="with --video and --bpe: the video concept model's settings as a JSON object, as "
        "samhq-video --concept-settings takes them (default: Meta's; score_threshold_detection "
        f"{DEFAULT_THRESHOLD}); the page's threshold controls start from them",
    )


def check_video_args(args: argparse.Namespace) -> VideoFrames | None:
    """The --video frames, read and checked (FramesError naming it) before any model is loaded;
    a video file's frames decoded once and kept for the page."""
    if args.video is None:
        if args.max_frames is not None:
            raise AppError("--max-frames is for --video; give a video too, or leave it out")
        return None
    if args.max_frames is not None and args.max_frames < 1:
        raise AppError(f"--max-frames {args.max_frames}: give 1 or more (or leave it out: all)")
    if not args.checkpoint:
        raise AppError(f"--video needs a checkpoint that tracks: {NOT_SAM2} (the default demo "
                       f"base is SAM 1), e.g. {VIDEO_DEMO}")
    check_variant(args.variant)
    check_tracking_file(args)
    return open_video(args.video, keep_decoded=True, max_frames=args.max_frames)


def check_tracking_file(args: argparse.Namespace) -> None:
    """A checkpoint that cannot track, told from its header and key names before a model is
    built: another family than SAM 2.1 / SAM 3, or a SAM 3 file without the video parts (with
    --bpe, check_detector_file refuses one without the detector); open_video_session words what
    they do not tell."""
    info = checkpoint_info(args.checkpoint, args.format)
    if info is None:
        return
    if info.family is not None and info.family not in VIDEO_FAMILIES:
        raise AppError(f"--video: the checkpoint {info.path.name} is a {info.family} model: "
                       f"{NOT_SAM2}")
    lacking = missing_parts(info, args.base, detector=False)  # --bpe: check_detector_file
    if lacking is not None:
        raise AppError(f"--video: {lacking}")


def check_text_settings(args: argparse.Namespace) -> ConceptVideoSettings | None:
    """The video page's text mode settings (with --video and --bpe; None otherwise), read
    before the model (one error line naming a bad --concept-settings file)."""
    if args.video is None or args.bpe is None:
        if args.concept_settings is not None:
            raise AppError("--concept-settings is for the video page's text prompts: give "
                           "--video and --bpe too, or leave it out")
        return None
    return read_settings(args.concept_settings, DEFAULT_THRESHOLD)


def open_video_session(
    video: VideoFrames,
    segmenter: Segmenter,
    checkpoint: Path,
    concept: ConceptPredictor | None = None,
    settings: ConceptVideoSettings | None = None,
) -> VideoSession:
    """The video set on a VideoPredictor of the segmenter's model (HQ as its SAM-HQ side), with
    text prompts when `concept` (the image page's, on the same model) is given; AppError naming
    `checkpoint` for a model that cannot track, before the frames are resized."""
    model = segmenter.predictor.model
    family = getattr(model, "family", "?")
    if family not in VIDEO_FAMILIES:
        raise AppError(f"--video: the checkpoint {checkpoint} is a {family} model: {NOT_SAM2}")
    try:
        predictor = VideoPredictor(model, use_hq=segmenter.use_hq)
    except VideoPartsMissing as err:  # what the key names did not tell (check_tracking_file)
        raise AppError(f"--video: the checkpoint {checkpoint}: {err}") from None
    h, w = video.size
    plain = "" if segmenter.use_hq else " (HQ parts untrained: plain SAM)"
    description = (f"{video.source.name}: {len(video)} frames, {w} x {h}, tracked by the "
                   f"{family} video predictor{plain}")
    text = None
    if concept is not None:
        session = ConceptVideoSession(model, concept.tokenizer, settings,
                                      use_hq=segmenter.use_hq)
        text = VideoText(session, video)
        description += "; text prompts by SAM 3's video concept model"
    return VideoSession(predictor, video, description, text)
