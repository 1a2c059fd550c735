"""samhq-app --video: the options, the video read and checked before the model, and the session
made once the model is known to track (SAM 2.1 / HQ-SAM 2, SAM 3 / HQ-SAM 3 with video parts)."""

from __future__ import annotations

import argparse

from samhq_train.inference.video import VideoPredictor
from samhq_train.inference.video.command import NOT_SAM2, VIDEO_FAMILIES, check_variant
from samhq_train.inference.video.frames import VideoFrames, open_video

from .engine import AppError, Segmenter
from .video import VideoSession

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
    return open_video(args.video, keep_decoded=True, max_frames=args.max_frames)


def open_video_session(video: VideoFrames, segmenter: Segmenter) -> VideoSession:
    """The video set on a VideoPredictor of the segmenter's model (HQ as its SAM-HQ side);
    AppError for a model that cannot track, before the frames are resized."""
    model = segmenter.predictor.model
    family = getattr(model, "family", "?")
    if family not in VIDEO_FAMILIES:
        raise AppError(f"--video: the checkpoint is a {family} model: {NOT_SAM2}")
    predictor = VideoPredictor(model, use_hq=segmenter.use_hq)  # refuses SAM 3 without video parts
    h, w = video.size
    plain = "" if segmenter.use_hq else " (HQ parts untrained: plain SAM)"
    description = (f"{video.source.name}: {len(video)} frames, {w} x {h}, tracked by the "
                   f"{family} video predictor{plain}")
    return VideoSession(predictor, video, description)
