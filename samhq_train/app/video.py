"""The app's video side: one video, its clicks and the tracked masks, over a VideoPredictor.

Every answer is what the predictor's public API gives: a click on (frame, object) calls
add_points_or_box with all of that object's clicks on that frame so far (the predictor replaces
its earlier points there) and the frame's masks are the ones it returns; propagate() runs the
predictor's propagate forward (from its first prompted frame), in reverse, or both as samhq-video
does (forward, then in reverse from the same frame). Undo and removing an object replay the kept
actions (clicks and propagations, in order) on a reset predictor, which gives the same state as
the calls without the dropped ones, at the cost of tracking again.

Memory: the predictor holds the video at the model's size (N x S x S x 3 uint8, decoded once);
the page's frames come at the video's size from a video file's frames, decoded by the same
open_video and kept (3 H W bytes a frame), or from a folder's files, read on request. Each frame's
latest masks are kept bit-packed (objects x H x W / 8 bytes a frame).
"""

from __future__ import annotations

import io
import re
import tempfile
import time
import zipfile
from pathlib import Path

import cv2
import numpy as np
import torch

from samhq_train.errors import UserError
from samhq_train.inference.video import VideoPredictor, VideoPromptError
from samhq_train.inference.video.command import id_mask, write_mask
from samhq_train.inference.video.frames import VideoFrames

from .engine import AppError, check_steps
from .video_records import (
    DIRECTIONS,
    MAX_CLICKS,
    Click,
    FramePrompt,
    Progress,
    as_logits,
    check_frame,
    check_object,
    indexed_png_url,
)
from .video_text import VideoText, check_text, check_text_object, text_refusal

NEW_OBJECT_FIX = "Reset and click every object before propagating"
IN_TEXT_MODE = "the masks are the text prompt's now: Reset returns to clicks"


class VideoSession:
    """A video set on a VideoPredictor, the actions taken on it and each frame's latest masks;
    with `text` (SAM 3 with the detector), text prompts too: a text prompt replaces the click
    objects by SAM 3's video concept model's until reset()."""

    def __init__(self, predictor: VideoPredictor, video: VideoFrames, description: str = "",
                 text: VideoText | None = None):
        self.predictor = predictor
        self.video = video
        self.description = description
        self.text = text
        predictor.set_video(video)
        self.actions: list[Click | str] = []  # clicks and propagation directions, in order
        self.progress = Progress()  # replaced whole: read without a lock while it runs
        self._clear()

    def _clear(self) -> None:
        self.prompts: dict[tuple[int, int], FramePrompt] = {}
        self.results: dict[int, tuple[tuple[int, ...], np.ndarray]] = {}  # frame -> ids, bits
        self.tracked: set[int] = set()  # frames a propagation gave
        self.conditioning: set[int] = set()  # frames clicked before they were tracked

    @property
    def num_frames(self) -> int:
        return self.predictor.num_frames

    def info(self) -> dict:
        h, w = self.video.size
        tracked = self.text.answers if self.text_active else self.results
        return {
            "video": self.video.source.name, "frames": self.num_frames, "width": w, "height": h,
            "names": self.video.names, "objects": self.predictor.obj_ids,
            "tracked": sorted(tracked), "clicks": sum(isinstance(a, Click) for a in self.actions),
            "propagations": sum(isinstance(a, str) for a in self.actions),
            "description": self.description, "text_prompts": self.text is not None,
            **(self.text.info() if self.text is not None else {}),
        }

    @property
    def text_active(self) -> bool:
        return self.text is not None and self.text.active

    def frame_jpeg(self, frame) -> bytes:
        """Frame `frame` at the video's size as a JPEG (what the page shows)."""
        image = self.video.image(check_frame(frame, self.num_frames))
        ok, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR),
                                [cv2.IMWRITE_JPEG_QUALITY, 92])
        if not ok:
            raise RuntimeError(f"could not encode frame {frame} as JPEG")
        return data.tobytes()

    # ---- the predictor's calls ------------------------------------------------------------
    def click(self, frame, obj_id, step) -> dict:
        """One point ({"point": [x, y, label]}) or box ({"box": [x0, y0, x1, y1]}) for an object
        on a frame, in video pixels; the frame's masks after it. In text mode points only, on
        the concept objects (VideoText.click)."""
        frame = check_frame(frame, self.num_frames)
        obj_id = check_text_object(obj_id) if self.text_active else check_object(obj_id)
        try:
            (kind, values), = check_steps([step], self.video.size)
        except AppError as err:  # check_steps numbers the steps and speaks of an image
            text = re.sub(r"^(point|box|prompt) 0 ", r"\1 ", str(err)).replace("image", "frame")
            raise AppError(f"frame {frame}, object {obj_id}: {text}") from None
        if self.text_active:
            return self._text_click(frame, obj_id, kind, values)
        prompt = self.prompts.get((frame, obj_id), FramePrompt())
        if len(prompt.points) >= MAX_CLICKS:
            raise AppError(f"frame {frame}, object {obj_id}: at most {MAX_CLICKS} clicks")
        try:
            self._click(Click(frame, obj_id, kind, values))
        except VideoPromptError as err:  # the predictor's words, with the page's way out
            text = str(err).replace("reset() and prompt all again", NEW_OBJECT_FIX)
            raise AppError(text) from None
        record = self.frame_masks(frame)
        if not self.predictor.sam3 and frame in self.conditioning & self.tracked:
            record["note"] = (f"frame {frame} was clicked before it was tracked: SAM 2.1 keeps "
                              "its first masks there when it propagates again (the official "
                              "rule); correct on another frame")
        return record

    def _click(self, click: Click) -> None:
        prompt = self.prompts.get((click.frame, click.obj_id), FramePrompt())
        updated = FramePrompt(list(prompt.points), list(prompt.labels), prompt.box)
        updated.add(click)
        points = updated.points or None
        frame, ids, logits = self.predictor.add_points_or_box(
            click.frame, click.obj_id, points, updated.labels if points else None, updated.box
        )
        self.prompts[(click.frame, click.obj_id)] = updated  # only once the predictor took it
        if click.frame not in self.tracked:  # batched: a conditioning frame for every object
            self.conditioning.add(click.frame)
        self.actions.append(click)
        self._keep(frame, ids, logits)

    def _text_click(self, frame: int, obj_id: int, kind: str, values) -> dict:
        if kind != "point":
            raise AppError(f"frame {frame}, object {obj_id}: in text mode clicks are points "
                           "(positive or negative), not boxes")
        self.text.click(frame, obj_id, values)
        return self.frame_masks(frame)

    def prompt_text(self, frame, text, settings=None) -> dict:
        """SAM 3's video concept model on `text` at `frame` (the click objects dropped), with
        the page's settings ({name: value} of video_text.PAGE_SETTINGS) from now on; the frame's
        masks."""
        frame, concept = check_frame(frame, self.num_frames), text_refusal(self.text)
        text, settings = check_text(text), concept.settings_with(settings)  # before the clicks go
        self._reset()
        concept.prompt(frame, text, settings)
        return self.frame_masks(frame)

    def pick(self, frame, point) -> dict:
        """The object drawn at `point` ([x, y], video pixels) on a frame: the one whose value
        the frame's PNG holds there (where masks overlap, the one on top), or None."""
        frame, (h, w) = check_frame(frame, self.num_frames), self.video.size
        if not (isinstance(point, list) and len(point) == 2
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in point)
                and 0 <= point[0] <= w and 0 <= point[1] <= h):
            raise AppError(f"pick at {point!r}: give a point [x, y] inside the {w} x {h} frame")
        column, row = min(int(point[0]), w - 1), min(int(point[1]), h - 1)
        if self.text_active:
            return {"frame": frame, "object": self.text.object_at(frame, column, row)}
        found = self.masks(frame)
        value = 0 if found is None else int(id_mask(found[0], as_logits(found[1]))[row, column])
        return {"frame": frame, "object": value or None}

    def _refuse_in_text_mode(self, what: str) -> None:
        if self.text_active:
            raise AppError(f"{what} needs the click objects: {IN_TEXT_MODE}")

    def propagate(self, direction: str) -> dict:
        """Track every object through the video (see DIRECTIONS); the frames tracked."""
        if direction not in DIRECTIONS:
            raise AppError(f"direction {direction!r}: use one of {', '.join(DIRECTIONS)}")
        if self.text_active:
            return self._timed(direction, lambda: self.text.propagate(direction, self.progress))
        if not self.prompts:
            raise AppError("no clicks yet: click on an object first, then propagate")
        return self._timed(direction, lambda: self._propagate(direction))

    def _timed(self, direction: str, run) -> dict:
        start = time.perf_counter()
        self.progress = Progress(running=True, direction=direction)
        try:
            frames = run()
        finally:
            self.progress.running = False
        return {"frames": frames, "seconds": time.perf_counter() - start}

    def _propagate(self, direction: str) -> int:
        tracked = 0
        for reverse in DIRECTIONS[direction]:
            progress = self.progress
            progress.passes, progress.done, progress.total = progress.passes + 1, 0, 0
            for frame, ids, logits in self.predictor.propagate(reverse=reverse):
                if not progress.total:  # the predictor chose the start frame
                    progress.total = frame + 1 if reverse else self.num_frames - frame
                self._keep(frame, ids, logits)
                self.tracked.add(frame)
                progress.done += 1
                progress.frames_done += 1
                tracked += 1
        self.actions.append(direction)
        return tracked

    def _keep(self, frame: int, obj_ids: list[int], logits: torch.Tensor) -> None:
        masks = (logits[:, 0] > 0).cpu().numpy()
        self.results[frame] = (tuple(obj_ids), np.packbits(masks, axis=-1))

    # ---- reading the results --------------------------------------------------------------
    def masks(self, frame: int) -> tuple[list[int], np.ndarray] | None:
        """(object ids, N x H x W bool) last given for a frame, or None."""
        if frame not in self.results:
            return None
        ids, bits = self.results[frame]
        return list(ids), np.unpackbits(bits, axis=-1, count=self.video.size[1]).astype(bool)

    def frame_masks(self, frame) -> dict:
        """The page's record of a frame: its indexed mask PNG (samhq-video's id mask) as a data
        URL, each object's area, and the clicks on it."""
        frame = check_frame(frame, self.num_frames)
        if self.text_active:
            return self._text_masks(frame)
        found = self.masks(frame)
        record = {"frame": frame, "objects": [], "mask": None, "areas": {},
                  "prompts": [p.as_dict(o) for (f, o), p in sorted(self.prompts.items())
                              if f == frame]}
        if found is not None:
            ids, masks = found
            record.update(objects=ids, mask=indexed_png_url(id_mask(ids, as_logits(masks))),
                          areas={str(i): int(m.sum()) for i, m in zip(ids, masks)})
        return record

    def _text_masks(self, frame: int) -> dict:
        """A frame's record in text mode: its PNG as samhq-video --detect-every-frame writes it
        (pixel value: the object's number in order of first showing), each object's number,
        detection score and area, the points clicked on it."""
        clicks = sorted((o, p) for (f, o), p in self.text.clicks.items() if f == frame)
        record = {"frame": frame, "objects": [], "mask": None, "areas": {}, "values": {},
                  "prompts": [FramePrompt(*p).as_dict(o) for o, p in clicks], "scores": {}}
        view = self.text.view(frame)
        if view is not None:
            output, picture, numbering = view
            ids = output.obj_ids.tolist()
            record.update(
                objects=ids, mask=indexed_png_url(picture),
                values={str(i): numbering[i] for i in ids},
                scores={str(i): p for i, p in zip(ids, output.probs.tolist())},
                areas={str(i): int(m.sum()) for i, m in zip(ids, output.masks)},
            )
        return record

    def zip_bytes(self) -> bytes:
        """Every frame with masks as samhq-video writes it (<frame name>.png, indexed), zipped;
        in text mode as samhq-video --detect-every-frame writes them (with concept.json)."""
        if self.text_active:
            return self.text.zip_bytes()
        if not self.results:
            raise AppError("no masks yet: click on an object (and propagate) first")
        buffer = io.BytesIO()
        with tempfile.TemporaryDirectory(prefix="samhq-app-") as tmp, \
                zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for frame in sorted(self.results):
                ids, masks = self.masks(frame)
                name = self.video.names[frame]
                write_mask(Path(tmp), name, ids, as_logits(masks))
                archive.write(Path(tmp) / f"{name}.png", f"{name}.png")
        return buffer.getvalue()

    # ---- undo, removal, reset -------------------------------------------------------------
    def reset(self) -> dict:
        """Forget every click, text prompt and mask (back to clicks); the video's info."""
        self._reset()
        if self.text is not None:
            self.text.clear()
        return self.info()

    def _reset(self) -> None:
        self.predictor.reset()
        self.actions = []
        self._clear()

    def undo(self) -> dict:
        """Drop the last click (and the propagations after it) by replaying the actions before."""
        self._refuse_in_text_mode("undo")
        last = max((i for i, a in enumerate(self.actions) if isinstance(a, Click)), default=None)
        if last is None:
            raise AppError("nothing to undo: no clicks")
        return self._replay(self.actions[:last])

    def remove_object(self, obj_id) -> dict:
        """Drop an object's clicks by replaying the other actions (text mode: the session's
        remove_object)."""
        if self.text_active:
            self.text.remove(obj_id)
            return self.info()
        obj_id = check_object(obj_id)
        if obj_id not in self.predictor.obj_ids:
            raise AppError(f"object {obj_id} has no clicks; objects: {self.predictor.obj_ids}")
        kept = [a for a in self.actions if not (isinstance(a, Click) and a.obj_id == obj_id)]
        while kept and isinstance(kept[-1], str) and not any(isinstance(a, Click) for a in kept):
            kept.pop()  # propagations with no object left
        return self._replay(kept)

    def _replay(self, actions: list[Click | str]) -> dict:
        before = list(self.actions)
        try:
            self._run(actions)
        except UserError:
            self._run(before)  # the state before, again
            raise
        return self.info()

    def _run(self, actions: list[Click | str]) -> None:
        self._reset()
        for action in actions:
            if isinstance(action, Click):
                self._click(action)
            elif self.prompts:
                self._propagate(action)
