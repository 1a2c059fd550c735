"""The knobs of SAM 3's video concept model (Meta's Sam3VideoBase) that one process uses, with
the values Meta's build_sam3_video_model ships as defaults. Field names are Meta's keyword
arguments, so a setting maps one to one onto theirs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from samhq_train.errors import ConfigValueError

# Meta's stand-in for "no limit" when max_num_objects <= 0
UNLIMITED_OBJECTS = 10000


class ConceptVideoSettingError(ConfigValueError, ValueError):
    """A concept-video setting out of range; the message names it and what it accepts (a
    ValueError, as the records' SettingError)."""


@dataclass(frozen=True)
class ConceptVideoSettings:
    """Probabilities and IoUs are in [0, 1]; counts are frames or objects.

    score_threshold_detection: a detection (joint probability) above it enters NMS and matching.
    det_nms_thresh: mask-IoU of the detection NMS (0: no NMS).
    assoc_iou_thresh: mask IoU at which a detection matches a track (not new, counts as a match).
    trk_assoc_iou_thresh: mask IoU at which a track counts as matched (else "unmatched").
    new_det_thresh: probability a detection needs to start a new object.
    hotstart_delay: frames the outputs are held back (0: no hotstart); within it an object is
      removed after hotstart_unmatch_thresh unmatched frames or hotstart_dup_thresh frames
      sharing a detection with an earlier object.
    suppress_unmatched_only_within_hotstart: False hides (not removes) objects whose keep-alive
      count (init / min / max_trk_keep_alive, +1 matched, -1 unmatched) reaches 0.
    suppress_overlapping_based_on_recent_occlusion_threshold: mask IoU above which the more
      recently occluded of two overlapping tracks is suppressed (0: off).
    decrease_trk_keep_alive_for_empty_masklets: empty tracker masks also count down keep-alive.
    o2o_matching_masklets_enable: one-to-one (Hungarian) track matching for "unmatched".
    suppress_det_close_to_boundary: no new objects whose box centre is within 2.5 % of an edge.
    fill_hole_area: holes / sprinkles of at most this many pixels filled / removed (0: off).
    max_num_objects: most objects tracked at once (-1: no limit).
    recondition_every_nth_frame: every n-th frame tracks are re-prompted with their
      high-confidence detection (<= 0: never).
    masklet_confirmation_enable / masklet_confirmation_consecutive_det_thresh: hide an object
      until it has been matched on that many consecutive frames.
    reconstruction_bbox_iou_thresh / reconstruction_bbox_det_score: re-prompt a track whose box
      IoU with its high-confidence detection is below the first (0: off) when the detection
      scores at least the second.
    """

    score_threshold_detection: float = 0.5
    det_nms_thresh: float = 0.1
    assoc_iou_thresh: float = 0.1
    trk_assoc_iou_thresh: float = 0.5
    new_det_thresh: float = 0.7
    hotstart_delay: int = 15
    hotstart_unmatch_thresh: int = 8
    hotstart_dup_thresh: int = 8
    suppress_unmatched_only_within_hotstart: bool = True
    init_trk_keep_alive: int = 30
    max_trk_keep_alive: int = 30
    min_trk_keep_alive: int = -1
    suppress_overlapping_based_on_recent_occlusion_threshold: float = 0.7
    decrease_trk_keep_alive_for_empty_masklets: bool = False
    o2o_matching_masklets_enable: bool = False
    suppress_det_close_to_boundary: bool = False
    fill_hole_area: int = 16
    max_num_objects: int = -1
    recondition_every_nth_frame: int = 16
    masklet_confirmation_enable: bool = False
    masklet_confirmation_consecutive_det_thresh: int = 3
    reconstruction_bbox_iou_thresh: float = 0.0
    reconstruction_bbox_det_score: float = 0.0

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.type == "bool" and not isinstance(value, bool):
                _refuse(field.name, value, "true or false")
            if field.type == "int" and (isinstance(value, bool) or not isinstance(value, int)):
                _refuse(field.name, value, "an integer")
            if field.type == "float":
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    _refuse(field.name, value, "a number in [0, 1]")
                if not 0.0 <= value <= 1.0:
                    _refuse(field.name, value, "a number in [0, 1]")
        self._check_counts()

    def _check_counts(self) -> None:
        for name in ("hotstart_delay", "fill_hole_area"):
            if getattr(self, name) < 0:
                _refuse(name, getattr(self, name), "an integer >= 0")
        if self.hotstart_delay > 0:
            for name in ("hotstart_unmatch_thresh", "hotstart_dup_thresh"):
                if getattr(self, name) > self.hotstart_delay:
                    accepted = f"at most hotstart_delay ({self.hotstart_delay})"
                    _refuse(name, getattr(self, name), accepted)
        if self.min_trk_keep_alive > self.max_trk_keep_alive:
            accepted = f"at most max_trk_keep_alive ({self.max_trk_keep_alive})"
            _refuse("min_trk_keep_alive", self.min_trk_keep_alive, accepted)
        if self.max_num_objects == 0 or self.max_num_objects < -1:
            _refuse("max_num_objects", self.max_num_objects, "-1 (no limit) or an integer >= 1")
        if self.masklet_confirmation_consecutive_det_thresh < 1:
            name = "masklet_confirmation_consecutive_det_thresh"
            _refuse(name, getattr(self, name), "an integer >= 1")

    @property
    def object_limit(self) -> int:
        """The most objects tracked at once, as Meta counts it (10000 for no limit)."""
        return self.max_num_objects if self.max_num_objects > 0 else UNLIMITED_OBJECTS

    def meta_kwargs(self) -> dict:
        """These settings as keyword arguments of Meta's Sam3VideoBase."""
        return asdict(self)


def _refuse(name: str, value, accepted: str) -> None:
    raise ConceptVideoSettingError(f"{name}={value}: expected {accepted}")
