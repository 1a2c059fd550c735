"""The video session's records and request checks: a click, one object's prompt on a frame,
the running propagation's progress, a request's frame and object checked, and the masks as the
page shows them (samhq-video's indexed PNG, as a data URL)."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image

from samhq_train.inference.video.command import davis_palette

from .engine import AppError

DIRECTIONS = {"forward": (False,), "backward": (True,), "both": (False, True)}
MAX_OBJECT_ID = 255  # the indexed PNG's values
MAX_CLICKS = 200  # per object and frame


@dataclass(frozen=True)
class Click:
    frame: int
    obj_id: int
    kind: str  # "point" (x, y, label) or "box" (x0, y0, x1, y1), video pixels
    values: tuple[float, ...]


@dataclass
class FramePrompt:
    """One object's prompt on one frame, as add_points_or_box takes it."""

    points: list[list[float]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    box: list[float] | None = None

    def add(self, click: Click) -> None:
        if click.kind == "box":
            self.box = list(click.values)
        else:
            self.points.append(list(click.values[:2]))
            self.labels.append(int(click.values[2]))

    def as_dict(self, obj_id: int) -> dict:
        return {"object": obj_id, "points": self.points, "labels": self.labels, "box": self.box}


@dataclass
class Progress:
    running: bool = False
    direction: str = ""
    passes: int = 0  # passes started (both: 2)
    done: int = 0  # frames of the current pass
    total: int = 0
    frames_done: int = 0  # all passes


def check_frame(frame, num_frames: int) -> int:
    if not isinstance(frame, int) or isinstance(frame, bool):
        raise AppError(f"frame {frame!r}: give a frame number 0 to {num_frames - 1}")
    if not 0 <= frame < num_frames:
        raise AppError(f"frame {frame} does not exist: the video has frames 0 to {num_frames - 1}")
    return frame


def check_object(obj_id) -> int:
    if isinstance(obj_id, bool) or not isinstance(obj_id, int) or not 0 < obj_id <= MAX_OBJECT_ID:
        raise AppError(f"object {obj_id!r}: object ids are 1 to {MAX_OBJECT_ID}")
    return obj_id


def as_logits(masks: np.ndarray) -> torch.Tensor:
    """N x H x W bool -> N x 1 x H x W (1 inside, 0 outside): what id_mask / write_mask read."""
    return torch.from_numpy(masks[:, None].astype(np.float32))


def indexed_png_url(ids: np.ndarray) -> str:
    """An H x W uint8 id mask as a palette PNG data URL (samhq-video's palette)."""
    picture = Image.fromarray(ids, mode="P")
    picture.putpalette(davis_palette())
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
