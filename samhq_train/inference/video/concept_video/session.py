"""SAM 3's video concept model on one process (Meta's Sam3VideoInference with a text prompt, and
the clicks of its Sam3VideoInferenceWithInstanceInteractivity): on every frame the concept
detector runs, the tracked objects are propagated one frame, the plan (planning.py: association,
new objects, hotstart removal, occlusion suppression, reconditioning) is executed on the tracker
(tracker_ops.py) and every shown object's mask comes out.

session.set_video(video); session.add_prompt(frame, text) gives the prompt frame's output (Meta's
add_prompt: the state starts afresh; with boxes=, an exemplar box on the frame, with or without
the text: box_prompt.py); session.propagate() then yields (frame, FrameOutput) from
the prompt frame on (that frame again, as Meta's propagate_in_video does), forward or in reverse
(from the frame before it back to 0). With a hotstart delay the frames come out that many frames
late (the last ones all at the end), without the objects the hotstart rules removed meanwhile.

Then, as in Meta's playground: session.add_points(frame, obj_id, points, labels) refines a
tracked object (or adds one under a new id) with clicks on a frame that has an output, and
gives that frame's output; session.remove_object(obj_id) drops one, and
session.shown_output(frame) gives a frame's output as it stands then. The next propagate()
tracks only the clicked objects' groups, with memory, and shows their new masks over the
others' (the detector no longer runs; no hotstart, suppression or removal rule touches them);
interaction.py says which propagation runs when.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np
import torch

from samhq_train.clip_tokenizer import ClipTokenizer
from samhq_train.inference.concept import EXEMPLAR_ONLY_TEXT
from samhq_train.model.sam3.concept.detector import concept_detector

from ..concept_tracking import check_concept_frame
from ..frames import VideoFrames
from ..point_prompts import VideoPromptError
from .box_prompt import DetectionBuffer, video_box_prompt
from .interaction import (
    ADD,
    FULL,
    PARTIAL,
    REFINE,
    REMOVE,
    Action,
    ShownMasks,
    forget_object,
    mark_clicked,
    next_propagation,
)
from .masklets import MaskletState
from .planning import plan_frame
from .planning_buffer import HotstartBuffer, PlannedFrame
from .planning_detections import filter_detections
from .planning_masks import fill_holes_and_sprinkles
from .planning_outputs import FrameOutput, frame_masks, postprocess_frame, video_masks
from .settings import ConceptVideoSettings
from .tracker_ops import ConceptVideoTracker

REFINEMENT_WINDOW = 16  # Meta's refinement_detector_cond_frame_removal_window


class ConceptVideoSession:
    """model: an HQ-SAM 3 / SAM 3 model with its detector and video parts; tokenizer: the BPE
    merges file (or a ClipTokenizer); use_hq=False tracks with plain SAM 3's decoder.
    refinement_window: a click takes back the detector's mask prompts of the clicked object
    within this many frames (Meta's refinement_detector_cond_frame_removal_window)."""

    def __init__(
        self,
        model,
        tokenizer: ClipTokenizer | str | os.PathLike,
        settings: ConceptVideoSettings | None = None,
        *,
        use_hq: bool = True,
        refinement_window: int = REFINEMENT_WINDOW,
    ) -> None:
        detector = concept_detector(model)
        cfg = detector.cfg
        if not isinstance(tokenizer, ClipTokenizer):
            tokenizer = ClipTokenizer(tokenizer, cfg.context_length, cfg.vocab_size)
        self.tokenizer = tokenizer
        self.settings = settings or ConceptVideoSettings()
        self.refinement_window = refinement_window
        self.tracker = ConceptVideoTracker(model, detector, use_hq=use_hq)
        self._reset()

    @property
    def num_frames(self) -> int:
        return self.tracker.num_frames

    @property
    def obj_ids(self) -> list[int]:
        """The objects tracked now (shown or hidden), in tracker order."""
        return self.state.obj_ids.tolist()

    def set_video(self, video: VideoFrames | str | os.PathLike) -> None:
        """Read the video (a folder of frames or a video file); forgets the prompt."""
        self.tracker.set_video(video)
        self._reset()

    def _reset(self) -> None:
        self.tracker.reset()
        self.state = MaskletState.initial(self.settings)
        self.text: str | None = None
        self.boxes: list[list[float]] | None = None  # the box prompt as given (video pixels)
        self.box_labels: list[int] | None = None
        self.prompt_frame: int | None = None
        self._exemplars = None  # the box as the detector takes it
        self._buffer = DetectionBuffer(0, None)
        self.history: list[Action] = []
        self.shown = ShownMasks()
        self.processed: set[int] = set()  # frames the detector ran on (Meta's previous_stages_out)

    @torch.inference_mode()
    def add_prompt(
        self, frame: int, text: str | None = None, boxes=None, box_labels=None
    ) -> FrameOutput:
        """Start afresh with the prompt and process `frame` (every object on it shown): a text,
        and / or an exemplar box on the frame (boxes 1 x 4, x0 y0 x1 y1 in video pixels;
        box_labels 1: an example, the default; 0: a counter-example, with a text only). Meta's
        video model takes one box (see box_prompt.py)."""
        if self.tracker.frames is None:
            raise VideoPromptError("set a video with set_video(...) before add_prompt(...)")
        check_concept_frame(frame, self.num_frames, what="prompt frame")
        if text is None and boxes is None:
            raise VideoPromptError("give a text prompt, an exemplar box, or both")
        if text is not None and not text.strip():
            raise VideoPromptError("the text prompt is empty: give a noun phrase such as 'a car'")
        exemplars = None
        if boxes is not None:
            video_hw = self.tracker.video_size
            exemplars = video_box_prompt(boxes, box_labels, video_hw, text is not None)
        self._reset()
        self.text, self.prompt_frame = text, frame
        if exemplars is not None:
            self.boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4).tolist()
            self.box_labels = exemplars[1][0].tolist()
            self._exemplars = tuple(t.to(self.tracker.device) for t in exemplars)
        self._buffer = DetectionBuffer(self.num_frames, None if exemplars is None else frame)
        tokens = EXEMPLAR_ONLY_TEXT if text is None else text
        self._tokens = self.tokenizer([tokens]).to(self.tracker.device)
        return self._step(frame, reverse=False).output(*self.tracker.video_size)

    @torch.inference_mode()
    def add_points(self, frame: int, obj_id: int, points, labels) -> FrameOutput:
        """Clicks for one object on a frame that has an output (Meta's add_prompt with points):
        points K x 2 (x y in video pixels), labels K (1 foreground, 0 background), replacing the
        object's earlier clicks there; a tracked obj_id is refined, another id starts a new
        object. Returns the frame's output with the object's new mask."""
        check_concept_frame(frame, self.num_frames, what="click frame")
        if self.prompt_frame is None or frame not in self.shown:
            raise VideoPromptError(
                f"frame {frame} has no output to click on yet: add_prompt(...) a text and "
                "propagate() to the frame first"
            )
        points = torch.as_tensor(points, dtype=torch.float32)
        if points.ndim != 2 or points.shape[1] != 2 or len(points) == 0:
            raise VideoPromptError(f"frame {frame}, object {obj_id}: points are K x 2 (x, y)")
        obj_id = int(obj_id)
        if obj_id < 0:
            raise VideoPromptError(f"object id {obj_id}: ids are integers >= 0")
        is_new = obj_id not in self.obj_ids
        if is_new and len(self.obj_ids) >= self.settings.object_limit:
            raise VideoPromptError(
                f"object {obj_id} is new, but {len(self.obj_ids)} objects are tracked already "
                f"(max_num_objects {self.settings.max_num_objects}): remove_object(...) one"
            )
        logits = self.tracker.add_points(frame, obj_id, points, labels, self.refinement_window)
        self.history.append(Action(ADD if is_new else REFINE, frame, (obj_id,)))
        mark_clicked(self.settings, self.state, frame, obj_id, is_new)
        logits = fill_holes_and_sprinkles(logits[None], self.settings.fill_hole_area)
        return self._show(frame, {**self.shown.get(frame), obj_id: logits[0] > 0})

    @torch.inference_mode()
    def remove_object(self, obj_id: int) -> None:
        """Stop tracking an object and take it off every frame shown (Meta's remove_object as a
        user action); its id is not handed out again."""
        if int(obj_id) not in self.obj_ids:
            raise VideoPromptError(
                f"object {obj_id} is not tracked: the objects are {self.obj_ids}"
            )
        self.tracker.remove_objects([int(obj_id)])
        self.history.append(Action(REMOVE, None, (int(obj_id),)))
        forget_object(self.state, int(obj_id))
        self.shown.drop(int(obj_id))

    @torch.inference_mode()
    def shown_output(self, frame: int) -> FrameOutput:
        """What the session outputs for a frame it has output before, as it stands now, with
        nothing run (Meta's propagation_fetch of that one frame): after remove_object the frame
        without the object (the others' masks then take the pixels it held)."""
        check_concept_frame(frame, self.num_frames, what="frame")
        if self.prompt_frame is None or frame not in self.shown:
            raise VideoPromptError(
                f"frame {frame} has no output yet: add_prompt(...) a text and propagate() to "
                "the frame first"
            )
        return self._output(frame, self.shown.get(frame))

    @torch.inference_mode()
    def propagate(
        self, reverse: bool = False, start_frame: int | None = None
    ) -> Iterator[tuple[int, FrameOutput]]:
        """Process the frames from start_frame (Meta's propagate_in_video), forward from it or
        in reverse from the frame before it; yields (frame, FrameOutput) in the order shown.
        start_frame None: Meta's default, the first frame processed so far (the text prompt's
        frame until a reverse pass ran). After clicks only the clicked objects are tracked
        (see interaction.py)."""
        if self.prompt_frame is None:
            raise VideoPromptError("add a prompt with add_prompt(...) first")
        start = min(self.processed) if start_frame is None else start_frame
        check_concept_frame(start, self.num_frames, what="start frame")
        order = range(start - 1, -1, -1) if reverse else range(start, self.num_frames)
        kind, obj_ids = next_propagation(self.history, self.num_frames)
        unshown = [frame for frame in order if frame not in self.shown]
        if kind == PARTIAL and unshown:
            raise VideoPromptError(
                f"frame {unshown[0]} has no output yet to track the clicked objects on: "
                "propagate() the text prompt over the video before clicking"
            )
        self.history.append(Action(kind, start_frame, obj_ids))
        if kind == FULL:
            yield from self._propagate_full(order, reverse)
            return
        for frame in order:
            if kind == PARTIAL:
                yield frame, self._show(frame, self._track_clicked(frame, reverse, obj_ids))
            else:
                yield frame, self._output(frame, self.shown.get(frame))

    def _propagate_full(self, order: range, reverse: bool):
        n = self.num_frames
        buffer = HotstartBuffer(
            self.settings, n, 0 if reverse else n - 1, reverse, *self.tracker.video_size
        )
        for frame in order:
            for held, hidden in buffer.release(self._step(frame, reverse)):
                self.shown.store(held.frame_idx, held.obj_id_to_mask, hidden)
                yield held.frame_idx, held.output(*self.tracker.video_size, hidden)

    def _track_clicked(self, frame: int, reverse: bool, obj_ids) -> dict[int, torch.Tensor]:
        """Meta's partial propagation of one frame: the clicked objects' groups tracked with
        memory; the clicked objects' masks (tracker scores: logits, as Meta keeps them) over
        the frame's shown ones."""
        ids, logits, scores = self.tracker.propagate_one(
            frame, reverse, obj_ids, encode_memory=True
        )
        obj_id_to_mask = self.shown.get(frame)
        rows = [i for i, obj_id in enumerate(ids.tolist()) if obj_id in obj_ids]
        if not rows:
            return obj_id_to_mask
        filled = fill_holes_and_sprinkles(logits[rows][:, None], self.settings.fill_hole_area)
        masks = video_masks(filled, *self.tracker.video_size)
        frame_scores = self.state.tracker_scores.setdefault(frame, {})
        for i, mask in zip(rows, masks):
            frame_scores[int(ids[i])] = float(scores[i])
            obj_id_to_mask[int(ids[i])] = mask
        return obj_id_to_mask

    def _show(self, frame: int, obj_id_to_mask: dict[int, torch.Tensor]) -> FrameOutput:
        """The frame's masks kept as shown (without its hidden objects) and output."""
        self.shown.store(frame, obj_id_to_mask, self.state.suppressed_ids.get(frame, ()))
        return self._output(frame, obj_id_to_mask)

    def _output(self, frame: int, obj_id_to_mask: dict[int, torch.Tensor]) -> FrameOutput:
        return postprocess_frame(
            obj_id_to_mask, self.state.obj_id_to_score, self.state.frame_tracker_scores(frame),
            *self.tracker.video_size, self.state.suppressed_ids.get(frame, ()),
        )

    def _step(self, frame: int, reverse: bool) -> PlannedFrame:
        """Meta's _det_track_one_frame: detect, propagate, plan, execute, build the masks."""
        settings, tracker = self.settings, self.tracker
        exemplars = self._exemplars if self._buffer.visit(frame, reverse) else None
        found = tracker.detector(tracker.encode_frame(frame), self._tokens, exemplars)
        detections = filter_detections(
            settings, found.logits[0], found.presence_logit[0], found.boxes_xyxy[0],
            found.mask_logits[0],
            allow_new_detections=self.text is not None or frame == self._buffer.box_frame,
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
        self.shown.store(frame, masks)  # as processed; again without hidden ones when shown
        self.processed.add(frame)
        return PlannedFrame.of(frame, masks, self.state)
