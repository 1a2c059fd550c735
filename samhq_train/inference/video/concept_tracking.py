"""Every instance of a concept tracked through a video with HQ-SAM 3 / SAM 3: detect once, then
track. SAM 3's concept detector finds the instances of a text prompt (and / or exemplar boxes) on
one frame; each becomes an object of the video predictor with its detected box as the prompt on
that frame (object ids 1..K by detection score, highest first), and the objects are then tracked
as any prompted objects are (propagate()).

This is not Meta's SAM 3 video model, which runs the detector on every frame and matches its
detections to the tracked objects (objects that appear later are added, lost ones dropped): here
the objects are the instances found on the one frame, and an instance that is not visible there
is not tracked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..concept import ConceptPredictor
from .frames import VideoFrames, open_video
from .point_prompts import VideoPromptError
from .predictor import VideoPredictor

NEEDS_SAM3 = "text prompts need an HQ-SAM 3 / SAM 3 model with the concept detector"


@dataclass(frozen=True)
class ConceptObjects:
    """The objects a concept prompt made on `frame`: obj_ids 1..K (highest score first), each
    one's detector score and the box it was prompted with (x0 y0 x1 y1 in video pixels, the
    detector's box clipped to the frame)."""

    frame: int
    obj_ids: list[int]
    scores: np.ndarray
    boxes: np.ndarray

    def __len__(self) -> int:
        return len(self.obj_ids)

    def records(self) -> list[dict]:
        """One {"id", "score", "box"} per object, for a JSON file."""
        return [
            {
                "id": obj_id,
                "score": round(float(score), 6),
                "box": [round(float(v), 3) for v in box],
            }
            for obj_id, score, box in zip(self.obj_ids, self.scores, self.boxes)
        ]


def check_concept_frame(
    frame: int, num_frames: int, limit: str = "", what: str = "text frame"
) -> None:
    """VideoPromptError for a frame the video does not have (limit: why it has so few; what:
    how the message names the frame)."""
    if not 0 <= frame < num_frames:
        raise VideoPromptError(
            f"{what} {frame} does not exist: the video has frames 0 to {num_frames - 1}"
            + (f" {limit}" if limit else "")
        )


def prompt_words(text: str | None, boxes) -> str:
    """How a line names a concept prompt: 'a car', 'a car' with the exemplar boxes, or the
    exemplar boxes."""
    if boxes is None:
        return repr(text)
    what = "the exemplar box" + ("es" if len(boxes) > 1 else "")
    return what if text is None else f"{text!r} with {what}"


def add_concept_objects(
    predictor: VideoPredictor,
    concept: ConceptPredictor,
    video: VideoFrames | str | Path,
    text: str | None,
    *,
    frame: int = 0,
    threshold: float | None = None,
    exemplar_boxes=None,
    exemplar_labels=None,
) -> ConceptObjects:
    """Detect the concept on `frame` of the video (its pixels as read, at the video's size, as
    ConceptPredictor.predict takes an image), set the video on the predictor (which forgets its
    earlier prompts) and add each instance found as an object with its box on that frame; then
    propagate() tracks them. Returns the objects made (none when nothing passed the threshold:
    the video is set, without objects). Prompts for further objects may follow (ids above K)."""
    if not predictor.sam3:
        raise VideoPromptError(NEEDS_SAM3)
    video = video if isinstance(video, VideoFrames) else open_video(video)
    check_concept_frame(frame, len(video))
    concept.set_image(video.image(frame))  # before set_video drops a video file's frames
    found = concept.predict(
        text,
        exemplar_boxes=exemplar_boxes,
        exemplar_labels=exemplar_labels,
        refine=False,
        threshold=threshold,
    )
    order = np.argsort(-found.scores, kind="stable")
    h, w = video.size
    boxes = np.clip(found.boxes[order], 0, np.array([w, h, w, h], dtype=np.float32))
    predictor.set_video(video)
    obj_ids = list(range(1, len(order) + 1))
    for obj_id, box in zip(obj_ids, boxes):
        predictor.add_points_or_box(frame, obj_id, box=box)
    return ConceptObjects(frame, obj_ids, found.scores[order], boxes)
