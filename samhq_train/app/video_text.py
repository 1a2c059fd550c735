"""The video page's text mode (samhq-app --video with --bpe and a SAM 3 file that holds the concept
detector): SAM 3's video concept model, ConceptVideoSession, on the page's video.

A text prompt on a frame is session.add_prompt(frame, text); its answer is that frame's preview.
"forward" is session.propagate() (from the prompt frame, which it gives again, to the last),
"backward" session.propagate(reverse=True) (the frames before it, back to 0), "both" forward then
backward, as samhq-video --detect-every-frame runs them; each pass once per text (nothing was
added since: it would give the same frames again). Objects come and go and their ids keep
growing, so the frames' PNGs number the objects shown 1, 2, ... in the order they first show, by
samhq-video's own code (id_picture, write_outputs) over the frames in the order the session first
gave them, each with its latest answer: after "both" the PNGs are the command's, file for file.

Memory: the session holds its own copy of the video at the model's size (3 S S bytes a frame),
made at the first text prompt; each frame's answer is kept bit-packed (objects x H x W / 8 bytes).
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from dataclasses import asdict
from pathlib import Path

import numpy as np

from samhq_train.inference.video import ConceptVideoSession
from samhq_train.inference.video.command import davis_palette
from samhq_train.inference.video.concept_video import FrameOutput
from samhq_train.inference.video.concept_video.command_run import id_picture, write_outputs
from samhq_train.inference.video.frames import VideoFrames

from .concept import MAX_TEXT
from .engine import AppError

PASSES = {"forward": (False,), "backward": (True,), "both": (False, True)}
PASS_NAMES = {False: "forward", True: "backward"}


def check_text(text) -> str:
    if not isinstance(text, str) or not text.strip():
        raise AppError("the text prompt is empty: type a noun phrase such as 'a red car'")
    if len(text) > MAX_TEXT:
        raise AppError(f"the text has {len(text)} characters; at most {MAX_TEXT} are taken")
    return text.strip()


class VideoText:
    """A ConceptVideoSession on the page's video and each frame's latest answer."""

    def __init__(self, session: ConceptVideoSession, video: VideoFrames) -> None:
        self.session = session
        self.video = video
        self.video_set = False  # the session's copy of the frames is made at the first prompt
        self.clear()

    def clear(self) -> None:
        self.text: str | None = None
        self.frame: int | None = None
        self.answers: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        self.order: list[int] = []  # frames in the order the session first gave them
        self._values: dict[int, int] = {}  # object id -> PNG value (samhq-video's rule)
        self._scores: dict[int, float] = {}  # object id -> its detection score
        # a copy of both, replaced whole: the page reads frames while a propagation runs
        self.numbering: tuple[dict[int, int], dict[int, float]] = ({}, {})
        self.passes: set[bool] = set()  # the propagations run (reverse flags)

    @property
    def active(self) -> bool:
        return self.text is not None

    def prompt(self, frame: int, text) -> None:
        """Start afresh with `text` on `frame` (the session's add_prompt)."""
        text = check_text(text)
        if not self.video_set:
            self.session.set_video(self.video)
            self.video_set = True
        self.clear()
        output = self.session.add_prompt(frame, text)
        self.text, self.frame = text, frame
        self._keep(frame, output)

    def propagate(self, direction: str, progress) -> int:
        """The direction's passes (none run before for this text); the frames given. `progress`
        (video.Progress) is updated as they come."""
        done = [PASS_NAMES[r] for r in PASSES[direction] if r in self.passes]
        if done:
            raise AppError(f"the text {self.text!r} is tracked {done[0]} already; type it again "
                           "to start afresh")
        given = 0
        for reverse in PASSES[direction]:
            progress.passes, progress.done = progress.passes + 1, 0
            progress.total = self.frame if reverse else self.video_frames - self.frame
            for frame, output in self.session.propagate(reverse=reverse):
                self._keep(frame, output)
                progress.done += 1
                progress.frames_done += 1
                given += 1
            self.passes.add(reverse)
        return given

    @property
    def video_frames(self) -> int:
        return len(self.video)

    def _keep(self, frame: int, output: FrameOutput) -> None:
        """The frame's answer kept, its objects numbered; all frames renumbered when a frame
        given before changed (the prompt frame, given again by the forward pass)."""
        if frame in self.answers:
            self._values, self._scores = {}, {}
            for earlier in self.order:
                self._number(output if earlier == frame else self.output(earlier))
        else:
            self._number(output)
            self.order.append(frame)
        self.numbering = (dict(self._values), dict(self._scores))
        self.answers[frame] = (output.obj_ids, output.probs, output.boxes_xywh,
                               np.packbits(output.masks, axis=-1))

    def _number(self, output: FrameOutput) -> None:
        id_picture(output, self.video.size, self._values)  # numbers the objects new to it
        for obj_id, prob in zip(output.obj_ids.tolist(), output.probs.tolist()):
            self._scores.setdefault(obj_id, prob)

    def output(self, frame: int) -> FrameOutput:
        ids, probs, boxes, bits = self.answers[frame]
        masks = np.unpackbits(bits, axis=-1, count=self.video.size[1]).astype(bool)
        return FrameOutput(ids, probs, boxes, masks)

    def view(self, frame: int) -> tuple[FrameOutput, np.ndarray, dict[int, int]] | None:
        """(the frame's answer, its H x W PNG values as samhq-video --detect-every-frame writes
        them, the numbering used), or None. While a propagation renumbers, an object it has not
        numbered yet gets the next free value here."""
        if frame not in self.answers:
            return None
        output, values = self.output(frame), dict(self.numbering[0])
        return output, id_picture(output, self.video.size, values), values

    def objects(self) -> list[dict]:
        """Every object shown so far: id, PNG value, detection score."""
        values, scores = self.numbering
        return [{"id": i, "value": v, "score": scores[i]}
                for i, v in sorted(values.items(), key=lambda item: item[1])]

    def info(self) -> dict:
        return {"text": self.text, "text_frame": self.frame, "text_objects": self.objects(),
                "text_passes": [PASS_NAMES[r] for r in sorted(self.passes)]}

    def zip_bytes(self) -> bytes:
        """samhq-video --detect-every-frame's files (a PNG per frame given, concept.json),
        written by its write_outputs over the frames in the order given, zipped."""
        record = {"text": self.text, "frame": self.frame,
                  "frame_name": self.video.names[self.frame],
                  "settings": asdict(self.session.settings)}
        buffer = io.BytesIO()
        with tempfile.TemporaryDirectory(prefix="samhq-app-") as tmp, \
                zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            results = ((frame, self.output(frame)) for frame in self.order)
            write_outputs(Path(tmp), self.video, results, davis_palette(), record)
            for path in sorted(Path(tmp).iterdir()):
                archive.write(path, path.name)
        return buffer.getvalue()


def text_refusal(text: VideoText | None) -> VideoText:
    """The text mode, or one AppError line saying how to get it."""
    if text is None:
        raise AppError("no text prompts: start the app with a SAM 3 checkpoint that holds the "
                       "concept detector and --bpe MERGES_FILE (this one was started without)")
    return text

