"""SAM 3's video concept model (detect on every frame, associate with the tracked objects):
the planning half (settings, masklet state, per-frame decisions) and the driver half."""

from .masklets import MaskletState
from .planning import FramePlan, plan_frame
from .planning_buffer import HotstartBuffer, PlannedFrame
from .planning_detections import FrameDetections, filter_detections
from .planning_masks import fill_holes_and_sprinkles
from .planning_outputs import FrameOutput, frame_masks, hidden_obj_ids, postprocess_frame
from .settings import ConceptVideoSettingError, ConceptVideoSettings

__all__ = [
    "ConceptVideoSettingError",
    "ConceptVideoSettings",
    "FrameDetections",
    "FrameOutput",
    "FramePlan",
    "HotstartBuffer",
    "MaskletState",
    "PlannedFrame",
    "filter_detections",
    "fill_holes_and_sprinkles",
    "frame_masks",
    "hidden_obj_ids",
    "plan_frame",
    "postprocess_frame",
]
