"""Video object segmentation with SAM 2.1 / HQ-SAM 2 (the official video predictor's rules) and
HQ-SAM 3 / SAM 3 (Meta's tracker's rules; a concept's instances detected once, then tracked, or
SAM 3's video concept model: detected on every frame and associated, ConceptVideoSession)."""

from .concept_tracking import ConceptObjects, add_concept_objects
from .concept_video.session import ConceptVideoSession
from .concept_video.settings import ConceptVideoSettings
from .frames import FramesError, list_frames, load_frames
from .predictor import OBJECT_MODES, VideoPredictor, VideoPromptError, fill_holes

__all__ = [
    "OBJECT_MODES",
    "ConceptObjects",
    "ConceptVideoSession",
    "ConceptVideoSettings",
    "FramesError",
    "VideoPredictor",
    "VideoPromptError",
    "add_concept_objects",
    "fill_holes",
    "list_frames",
    "load_frames",
]
