"""SAM 3's video concept model on one process (Meta's Sam3VideoInference with a text prompt): on
every frame the concept detector runs, the tracked objects are propagated one frame, the plan
(planning.py: association, new objects, hotstart removal, occlusion suppression, reconditioning)
is executed on the tracker (tracker_ops.py) and every shown object's mask comes out.

session.set_video(video); session.add_prompt(frame, text) gives the prompt frame's output (Meta's
add_prompt: the state starts afresh); session.propagate() then yields (frame, FrameOutput) from
the prompt frame on (that frame again, as Meta's propagate_in_video does), forward or in reverse
(from the frame before it back to 0). With a hotstart delay the frames come out that many frames
late (the last ones all at the end), without the objects the hotstart rules removed meanwhile.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import torch

from samhq_train.clip_tokenizer import ClipTokenizer
from samhq_train.model.sam3.concept.detector import concept_detector

from ..frames import VideoFrames
from ..point_prompts import VideoPromptError
from .masklets import MaskletState
from .planning import plan_frame
from .planning_buffer import HotstartBuffer, PlannedFrame
from .planning_detections import filter_detections
from .planning_masks import fill_holes_and_sprinkles
from .planning_outputs import FrameOutput, frame_masks
from .settings import ConceptVideoSettings
from .tracker_ops import ConceptVideoTracker


class ConceptVideoSession:
    """model: an HQ-SAM 3 / SAM 3 model with its detector and video parts; tokenizer: the BPE
    merges file (or a ClipTokenizer); use_hq=False tracks with plain SAM 3's decoder."""

    def __init__(
        self,
        model,
        tokenizer: ClipTokenizer | str | os.PathLike,
        settings: ConceptVideoSettings | None = None,
        *,
        use_hq: bool = True,
    ) -> None:
        detector = concept_detector(model)
        cfg = detector.cfg
        if not isinstance(tokenizer, ClipTokenizer):
            tokenizer = ClipTokenizer(tokenizer, cfg.context_length, cfg.vocab_size)
        self.tokenizer = tokenizer
        self.settings = settings or ConceptVideoSettings()
        self.tracker = ConceptVideoTracker(model, detector, use_hq=use_hq)
        self.text: str | None = None
        self.prompt_frame: int | None = None

    @property
    def num_frames(self) -> int:
        return self.tracker.num_frames

    def set_video(self, video: VideoFrames | str | os.PathLike) -> None:
        """Read the video (a folder of frames or a video file); forgets the prompt."""
        self.tracker.set_video(video)
        self._reset()

    def _reset(self) -> None:
        self.tracker.reset()
        self.state = MaskletState.initial(self.settings)
        self.text, self.prompt_frame = None, None

    @torch.inference_mode()
    def add_prompt(self, frame: int, text: str) -> FrameOutput:
        """Start afresh with the text prompt and process `frame` (every object on it shown)."""
        if self.tracker.frames is None:
            raise VideoPromptError("set a video with set_video(...) before add_prompt(...)")
        if not 0 <= frame < self.num_frames:
            raise VideoPromptError(
                f"text frame {frame} does not exist: the video has frames 0 to "
                f"{self.num_frames - 1}"
            )
        if not text or not text.strip():
            raise VideoPromptError("the text prompt is empty: give a noun phrase such as 'a car'")
        self._reset()
        self.text, self.prompt_frame = text, frame
        self._tokens = self.tokenizer([text]).to(self.tracker.device)
        return self._step(frame, reverse=False).output(*self.tracker.video_size)

    @torch.inference_mode()
    def propagate(self, reverse: bool = False) -> Iterator[tuple[int, FrameOutput]]:
        """Process the frames from the prompt frame (Meta's propagate_in_video); yields
        (frame, FrameOutput) in the order shown."""
        if self.text is None:
            raise VideoPromptError("add a text prompt with add_prompt(...) first")
        start, n = self.prompt_frame, self.num_frames
        order = range(start - 1, -1, -1) if reverse else range(start, n)
        buffer = HotstartBuffer(
            self.settings, n, 0 if reverse else n - 1, reverse, *self.tracker.video_size
        )
        for frame in order:
            yield from buffer.push(self._step(frame, reverse))

    def _step(self, frame: int, reverse: bool) -> PlannedFrame:
        """Meta's _det_track_one_frame: detect, propagate, plan, execute, build the masks."""
        settings, tracker = self.settings, self.tracker
        found = tracker.detector(tracker.encode_frame(frame), self._tokens)
        detections = filter_detections(
            settings, found.logits[0], found.presence_logit[0], found.boxes_xyxy[0],
            found.mask_logits[0],
        )
        _, masks, scores = tracker.propagate_one(frame, reverse)
        if len(masks):
            masks = fill_holes_and_sprinkles(masks[:, None], settings.fill_hole_area)[:, 0]
        plan, self.state = plan_frame(
            settings, self.state, frame, self.num_frames, reverse, detections, masks, scores
        )
        if plan.recondition.obj_to_det:
            tracker.recondition(frame, plan.recondition.obj_to_det, detections.mask_logits)
        if len(plan.prev_obj_ids):
            tracker.update_memories(frame, plan.masks_to_encode)
        new_inds = torch.as_tensor(plan.new_det_inds, dtype=torch.long)
        tracker.add_objects(frame, plan.new_obj_ids, detections.mask_logits[new_inds])
        tracker.remove_objects(sorted(plan.removed_obj_ids))
        masks = frame_masks(settings, plan, detections, *tracker.video_size)
        return PlannedFrame.of(frame, masks, self.state)
