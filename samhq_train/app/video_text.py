"""The video page's text mode (samhq-app --video with --bpe and a SAM 3 file that holds the concept
detector): SAM 3's video concept model, ConceptVideoSession, on the page's video.

A text prompt on a frame is session.add_prompt(frame, text); its answer is that frame's preview.
"forward" is session.propagate(), "backward" session.propagate(reverse=True), "both" forward then
backward, as samhq-video --detect-every-frame runs them; the session decides what each pass does
(interaction.next_propagation, Meta's rules): the first two are the detect-and-track passes
(forward from the first frame processed so far, which it gives again; backward from the frame
before it to 0), and one of them is refused in a direction it ran already (it would track the
same frames again). Clicks on the shown objects are session.add_points (positive / negative
points, a new object under an unused id; their frame's answer at once), Remove object
session.remove_object; the next propagation then tracks the clicked objects only, and with
nothing new it serves the shown masks again (from frame 0 once the backward pass ran).

Objects come and go and their ids keep growing, so the frames' PNGs number the objects shown 1,
2, ... in the order they first show, by samhq-video's own code (id_picture, write_outputs) over
the frames in the order given, each with its latest answer: the order the session first gave
them, and after clicks the order the propagations after them give them (samhq-video --prompts
writes the last round's outputs). After "both", and after clicks then "both", the PNGs are the
command's, file for file. A removed object leaves the frames at once: each frame that showed it
gets the session's output as it stands then (session.shown_output, Meta's fetch of that frame),
where the others' masks take the pixels it held. The page's two threshold controls are the
session's own settings (PAGE_SETTINGS), which a text prompt may change: they apply from that
prompt on (its preview and detect-and-track passes; concept.json records them).

Memory: the session holds its own copy of the video at the model's size (3 S S bytes a frame),
made at the first text prompt; each frame's answer is kept bit-packed (objects x H x W / 8 bytes).
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

from samhq_train.inference.video import ConceptVideoSession
from samhq_train.inference.video.command import davis_palette
from samhq_train.inference.video.concept_video import ConceptVideoSettings, FrameOutput
from samhq_train.inference.video.concept_video.command_run import (
    MAX_OBJECT_ID,
    id_picture,
    write_outputs,
)
from samhq_train.inference.video.concept_video.interaction import (
    ADD,
    FULL,
    PARTIAL,
    REFINE,
    REMOVE,
    Action,
    next_propagation,
)
from samhq_train.inference.video.frames import VideoFrames

from .concept import MAX_TEXT
from .engine import AppError

PASSES = {"forward": (False,), "backward": (True,), "both": (False, True)}
PASS_NAMES = {False: "forward", True: "backward"}
MAX_TEXT_CLICKS = 200  # per object and frame
PAGE_SETTINGS = ("score_threshold_detection", "new_det_thresh")  # the page's controls


def check_text(text) -> str:
    if not isinstance(text, str) or not text.strip():
        raise AppError("the text prompt is empty: type a noun phrase such as 'a red car'")
    if len(text) > MAX_TEXT:
        raise AppError(f"the text has {len(text)} characters; at most {MAX_TEXT} are taken")
    return text.strip()


def check_text_object(obj_id) -> int:
    if isinstance(obj_id, bool) or not isinstance(obj_id, int) or not 0 <= obj_id <= MAX_OBJECT_ID:
        raise AppError(f"object {obj_id!r}: the text mode's object ids are 0 to {MAX_OBJECT_ID}")
    return obj_id


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
        self.order: list[int] = []  # the frames in the order samhq-video's writer takes them
        self._before: list[int] = []  # the order when the propagations after clicks began
        self._round: list[int] | None = None  # the frames given since then (None: no clicks)
        self._values: dict[int, int] = {}  # object id -> PNG value (samhq-video's rule)
        self._scores: dict[int, float] = {}  # object id -> its detection score
        # a copy of both, replaced whole: the page reads frames while a propagation runs
        self.numbering: tuple[dict[int, int], dict[int, float]] = ({}, {})
        self.passes: set[bool] = set()  # the detect-and-track passes run (reverse flags)
        self.clicks: dict[tuple[int, int], tuple[list[list[float]], list[int]]] = {}
        self.rounds = 0  # propagations begun after clicks (samhq-video's click_rounds)

    @property
    def active(self) -> bool:
        return self.text is not None

    def settings_with(self, changes) -> ConceptVideoSettings:
        """The session's settings with the page's changes ({name: value} of PAGE_SETTINGS, or
        None), checked: one line naming a bad one."""
        if changes is None:
            return self.session.settings
        if not isinstance(changes, dict) or not set(changes) <= set(PAGE_SETTINGS):
            raise AppError(f"settings {changes!r}: the page sets {' and '.join(PAGE_SETTINGS)}; "
                           "the others come from --concept-settings")
        return replace(self.session.settings, **changes)  # ConceptVideoSettingError if bad

    def prompt(self, frame: int, text, settings: ConceptVideoSettings | None = None) -> None:
        """Start afresh with `text` on `frame` (the session's add_prompt), under `settings`
        (settings_with's) from now on when given."""
        text = check_text(text)
        if not self.video_set:
            self.session.set_video(self.video)
            self.video_set = True
        self.clear()
        if settings is not None:
            self.session.settings = settings  # add_prompt starts the state afresh with them
        output = self.session.add_prompt(frame, text)
        self.text, self.frame = text, frame
        self._keep(frame, output)

    def click(self, frame: int, obj_id, point) -> None:
        """A positive (label 1) or negative (0) point for `obj_id` on `frame`: session.add_points
        with all of that object's points there so far; the frame's answer is its output."""
        obj_id = check_text_object(obj_id)
        if frame not in self.answers:
            raise AppError(f"frame {frame} has no masks of the text yet: propagate to it first, "
                           "then click on its objects")
        points, labels = self.clicks.get((frame, obj_id), ([], []))
        if len(points) >= MAX_TEXT_CLICKS:
            raise AppError(f"frame {frame}, object {obj_id}: at most {MAX_TEXT_CLICKS} clicks")
        points, labels = [*points, list(point[:2])], [*labels, int(point[2])]
        output = self.session.add_points(frame, obj_id, np.array(points, np.float32), labels)
        self.clicks[(frame, obj_id)] = (points, labels)  # once the session took them
        self._keep(frame, output, given=False)

    def remove(self, obj_id) -> None:
        """session.remove_object; each frame whose answer showed the object gets the session's
        output as it stands now (the others' masks where it was)."""
        obj_id = check_text_object(obj_id)
        if obj_id not in self.session.obj_ids:
            raise AppError(f"object {obj_id} is not tracked; the objects tracked are "
                           f"{self.session.obj_ids}")
        self.session.remove_object(obj_id)
        self.clicks = {k: v for k, v in self.clicks.items() if k[1] != obj_id}
        for frame, (ids, *_) in list(self.answers.items()):
            if obj_id in ids:
                self._store(frame, self.session.shown_output(frame))
        self._renumber()

    def propagate(self, direction: str, progress) -> int:
        """The direction's passes as the session decides them; the frames given. `progress`
        (video.Progress) is updated as they come."""
        self._check_passes(direction)
        given = 0
        for reverse in PASSES[direction]:
            kind, _ = next_propagation(self.session.history, self.session.num_frames)
            if self.session.history and self.session.history[-1].kind in (ADD, REFINE, REMOVE):
                self._before, self._round = list(self.order), []  # a new round of outputs
                self.rounds += 1
            start = min(self.session.processed)  # the session's start frame (start_frame None)
            progress.passes, progress.done = progress.passes + 1, 0
            progress.total = start if reverse else self.video_frames - start
            for frame, output in self.session.propagate(reverse=reverse):
                self._keep(frame, output)
                progress.done += 1
                progress.frames_done += 1
                given += 1
            if kind == FULL:
                self.passes.add(reverse)
        return given

    def _check_passes(self, direction: str) -> None:
        """One line before anything runs: a detect-and-track pass again in a direction it ran,
        or the clicked objects to be tracked over frames without masks yet."""
        history, n = list(self.session.history), self.session.num_frames
        start = min(self.session.processed)
        for reverse in PASSES[direction]:
            kind, obj_ids = next_propagation(history, n)
            if kind == FULL and reverse in self.passes:
                raise AppError(f"the text {self.text!r} is tracked {PASS_NAMES[reverse]} "
                               "already; type it again to start afresh")
            frames = range(start - 1, -1, -1) if reverse else range(start, n)
            unshown = [f for f in frames if f not in self.answers]
            if kind == PARTIAL and unshown:
                raise AppError(f"frame {unshown[0]} has no masks of the text yet to track the "
                               "clicked objects on: propagate the text both ways before clicking")
            history.append(Action(kind, None, obj_ids))

    def next_pass(self) -> str:
        """What the next propagation does, in words (the session's rule)."""
        kind, obj_ids = next_propagation(self.session.history, self.session.num_frames)
        if kind == FULL:
            return "detect and track"
        if kind == PARTIAL:
            return "track the clicked objects " + ", ".join(map(str, obj_ids))
        return "serve the shown masks again"

    @property
    def video_frames(self) -> int:
        return len(self.video)

    def _keep(self, frame: int, output: FrameOutput, given: bool = True) -> None:
        """The frame's answer kept, its objects numbered: all frames renumbered when the order
        or a frame given before changed (the prompt frame given again, a click's answer, the
        frames given after clicks)."""
        known = frame in self.answers
        self._store(frame, output)
        if given and self._round is not None and frame not in self._round:
            self._round.append(frame)
            chosen = set(self._round)
            self.order = self._round + [f for f in self._before if f not in chosen]
            self._renumber()
        elif known:
            self._renumber()
        else:
            self.order.append(frame)
            self._number(frame)
            self.numbering = (dict(self._values), dict(self._scores))

    def _store(self, frame: int, output: FrameOutput) -> None:
        self.answers[frame] = (output.obj_ids, output.probs, output.boxes_xywh,
                               np.packbits(output.masks, axis=-1))

    def _renumber(self) -> None:
        self._values, self._scores = {}, {}
        for frame in self.order:
            self._number(frame)
        self.numbering = (dict(self._values), dict(self._scores))

    def _number(self, frame: int) -> None:
        ids, probs, boxes, _ = self.answers[frame]
        if any(obj_id not in self._values for obj_id in ids.tolist()):
            # the writer's numbering needs the ids alone: 1 x 1 blank masks spare the unpacking
            blank = FrameOutput(ids, probs, boxes, np.zeros((len(ids), 1, 1), bool))
            id_picture(blank, (1, 1), self._values)
        for obj_id, prob in zip(ids.tolist(), probs.tolist()):
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

    def object_at(self, frame: int, column: int, row: int) -> int | None:
        """The object whose value the frame's PNG holds at the pixel (masks do not overlap
        there), or None."""
        view = self.view(frame)
        value = 0 if view is None else int(view[1][row, column])
        return next((i for i, v in view[2].items() if v == value), None) if value else None

    def objects(self) -> list[dict]:
        """Every object shown so far: id, PNG value, detection score."""
        values, scores = self.numbering
        return [{"id": i, "value": v, "score": scores[i]}
                for i, v in sorted(values.items(), key=lambda item: item[1])]

    def info(self) -> dict:
        active = self.active
        return {"text": self.text, "text_frame": self.frame, "text_objects": self.objects(),
                "text_passes": [PASS_NAMES[r] for r in sorted(self.passes)],
                "text_tracked": self.session.obj_ids if active else [],
                "text_new_id": self.session.state.max_obj_id + 1 if active else None,
                "text_next": self.next_pass() if active else None,
                "text_settings": {k: getattr(self.session.settings, k) for k in PAGE_SETTINGS}}

    def zip_bytes(self) -> bytes:
        """samhq-video --detect-every-frame's files (a PNG per frame given, concept.json),
        written by its write_outputs over the frames in the order given, zipped."""
        record = {"text": self.text, "frame": self.frame,
                  "frame_name": self.video.names[self.frame],
                  "settings": asdict(self.session.settings), "click_rounds": self.rounds}
        buffer = io.BytesIO()
        with tempfile.TemporaryDirectory(prefix="samhq-app-") as tmp, \
                zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            results = ((frame, self.output(frame)) for frame in self.order)
            write_outputs(Path(tmp), self.video, results, davis_palette(), record,
                          session=self.session)
            for path in sorted(Path(tmp).iterdir()):
                archive.write(path, path.name)
        return buffer.getvalue()


def text_refusal(text: VideoText | None) -> VideoText:
    """The text mode, or one AppError line saying how to get it."""
    if text is None:
        raise AppError("no text prompts: start the app with a SAM 3 checkpoint that holds the "
                       "concept detector and --bpe MERGES_FILE (this one was started without)")
    return text

