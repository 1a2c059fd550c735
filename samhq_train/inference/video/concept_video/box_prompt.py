"""The exemplar box of the video concept model's prompt (Meta's Sam3VideoInference.add_prompt
with boxes_xywh / box_labels), and the frames whose detection reads it.

Meta's rule: add_prompt starts afresh, so the first box on the frame is its visual prompt, and
that is the one box it takes (more raise an error; a counter-example is allowed, with a
warning). The box becomes the prompt frame's geometric prompt; a frame without one detects with
the text alone (with "visual" as the text for a box-only prompt, whose detections are dropped
on every frame but the prompt frame: allow_new_detections).

Which frames the box reaches is the one-process detector's buffer
(Sam3ImageOnVideoMultiGPU.forward_video_grounding_multigpu): on each frame it processes, it
detects that frame if not buffered, drops the previous frame's entry and detects the next frame
in the processing direction ahead of time, with the geometric prompt of the frame being
processed. So the frame after the prompt frame is detected with the box too (add_prompt
processes its frame forward), unless the buffer dropped it before. DetectionBuffer follows that.
Clicks (Meta's _prepare_backbone_feats) go through the buffer as well, but after a click no
detection runs again until the next add_prompt (interaction.py), so they are not followed.
"""

from __future__ import annotations

import numpy as np
import torch

from samhq_train.inference.predictor import PromptError, checked_boxes

from ..point_prompts import VideoPromptError


def video_box_prompt(
    boxes, box_labels, video_hw: tuple[int, int], has_text: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Boxes (K x 4, x0 y0 x1 y1 in video pixels; K must be 1) and labels (K: 1 an example, 0 a
    counter-example; None: 1) -> the detector's exemplars: 1 x 1 x 4 (cx, cy, w, h) normalised,
    as Meta's add_prompt makes them from the normalised x y w h box, and 1 x 1 labels."""
    h, w = video_hw
    try:
        boxes = checked_boxes(boxes, video_hw).reshape(-1, 4)
    except PromptError as err:
        raise VideoPromptError(str(err)) from None
    if len(boxes) != 1:
        raise VideoPromptError(
            f"{len(boxes)} boxes: SAM 3's video model takes one box with a prompt (its first box "
            "on the frame is the visual prompt; Meta's add_prompt refuses more)"
        )
    labels = np.ones(1, dtype=np.int64) if box_labels is None else np.asarray(box_labels)
    if labels.shape != (1,) or labels[0] not in (0, 1):
        raise VideoPromptError(
            f"box_labels must be one 1 (example) or 0 (counter-example) per box, got "
            f"{labels.tolist()}"
        )
    if labels[0] == 0 and not has_text:
        raise VideoPromptError(
            "a counter-example box alone finds nothing: give a text, an example box, or both"
        )
    x0, y0, x1, y1 = boxes[0].tolist()
    xywh = torch.tensor([[x0 / w, y0 / h, (x1 - x0) / w, (y1 - y0) / h]], dtype=torch.float32)
    x, y, bw, bh = xywh.unbind(-1)
    cxcywh = torch.stack([x + 0.5 * bw, y + 0.5 * bh, bw, bh], dim=-1)
    return cxcywh[None], torch.as_tensor(labels, dtype=torch.long)[None]


class DetectionBuffer:
    """Which frames' detections read the box prompt, as Meta's one-process buffer decides (see
    above): {frame: detected with the box} of the frames buffered; empty after add_prompt."""

    def __init__(self, num_frames: int, box_frame: int | None) -> None:
        self.num_frames = num_frames
        self.box_frame = box_frame  # the frame with the box prompt (None: no box)
        self.with_box: dict[int, bool] = {}

    def visit(self, frame: int, reverse: bool) -> bool:
        """The frame is processed (in that direction): whether its detection reads the box."""
        prompted = frame == self.box_frame
        self.with_box.setdefault(frame, prompted)
        reads_box = self.with_box[frame]
        step = -1 if reverse else 1
        self.with_box.pop(frame - step, None)
        if 0 <= frame + step < self.num_frames:
            self.with_box.setdefault(frame + step, prompted)
        return reads_box
