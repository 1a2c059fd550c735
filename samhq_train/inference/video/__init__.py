"""Video object segmentation with SAM 2.1 / HQ-SAM 2 (the official video predictor's rules) and
HQ-SAM 3 / SAM 3 (Meta's tracker's rules; a concept's instances detected once, then tracked, or
SAM 3's video concept model: detected on every frame and associated, ConceptVideoSession)."""

from samhq_train.lazy_exports import lazy_exports

# each name's submodule, imported on first use (lazy_exports says why)
HOMES = {
    **dict.fromkeys(("ConceptObjects", "add_concept_objects"), "concept_tracking"),
    "ConceptVideoSession": "concept_video.session",
    "ConceptVideoSettings": "concept_video.settings",
    **dict.fromkeys(("FramesError", "list_frames", "load_frames"), "frames"),
    **dict.fromkeys(("OBJECT_MODES", "VideoPredictor", "VideoPromptError", "fill_holes"),
                    "predictor"),
}
__all__ = sorted(HOMES)
__getattr__ = lazy_exports(__name__, HOMES)
