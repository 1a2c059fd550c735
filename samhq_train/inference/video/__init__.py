"""Video object segmentation with SAM 2.1 / HQ-SAM 2 (the official video predictor's rules)."""

from .frames import FramesError, list_frames, load_frames
from .predictor import OBJECT_MODES, VideoPredictor, VideoPromptError, fill_holes

__all__ = [
    "OBJECT_MODES",
    "FramesError",
    "VideoPredictor",
    "VideoPromptError",
    "fill_holes",
    "list_frames",
    "load_frames",
]
