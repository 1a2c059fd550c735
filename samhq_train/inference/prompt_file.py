"""The prompt-file format of scripts/predict.py: one json per image, in original image pixels.

    {"boxes": [[x0, y0, x1, y1], ...], "points": [[x, y, label], ...]}    ("box": [...] for one box)

Each box is one prompt (one mask) and the points are added to every box; without boxes the points
are the one prompt. A prompt source is one such file (for a single image) or a folder of
<image stem>.json files.

A box entry that is not 4 numbers is left out and reported (file, entry, what is wrong); the other
boxes stay. A file that cannot be read, or a point entry that is wrong (every prompt of the image
holds the points), leaves its image without prompts: PromptError naming the file.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from samhq_train.user_files import read_text

from .predictor import PromptError

PROMPT_KEYS = ("box", "boxes", "points")


@dataclass
class ImagePrompts:
    """The prompts of one image, in its original pixels."""

    boxes: np.ndarray | None  # B x 4 float64 (x0, y0, x1, y1), a mask each; None: points only
    points: np.ndarray | None  # N x 3 float64 (x, y, label), added to every box
    box_ids: list[int] = field(default_factory=list)  # each box's entry number in its source
    box_entries: int = 0  # box entries in the source, those left out included
    source: str = ""  # the prompt file, "" for command-line prompts
    problems: list[str] = field(default_factory=list)  # entries left out, one line each

    @property
    def count(self) -> int:
        """How many prompts (masks) these are."""
        return 1 if self.boxes is None else len(self.boxes)

    def where(self, entry: str) -> str:
        """ "<file> <entry>: " to put before a message about that entry; "" for command-line prompts."""
        return f"{self.source} {entry}: " if self.source else ""

    def select(self, keep: list[int]) -> ImagePrompts:
        """These prompts with only the boxes at positions `keep`."""
        boxes = None if self.boxes is None else self.boxes[keep]
        ids = [self.box_ids[i] for i in keep]
        return ImagePrompts(
            boxes, self.points, ids, self.box_entries, self.source, list(self.problems)
        )


def _numbers(entry, n: int) -> list[float] | None:
    if not isinstance(entry, list) or len(entry) != n:
        return None
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in entry):
        return None
    return [float(v) for v in entry]


def _entry_problem(entry, n: int, form: str) -> str | None:
    """Why `entry` is not n finite numbers (None when it is), in the words of `form`."""
    numbers = _numbers(entry, n)
    if numbers is None:
        return f"must be {form}, got {entry!r}"
    if not all(math.isfinite(v) for v in numbers):
        return f"{entry!r} is not finite (NaN or inf): give pixel coordinates {form}"
    return None


def _entries(data: dict, path: Path, key: str, what: str) -> list:
    entries = data.get(key)
    if not isinstance(entries, list):
        raise PromptError(
            f'prompt file {path}: "{key}" must be a list of {what} lists, got {entries!r}'
        )
    return entries


def read_prompt_file(path: str | os.PathLike) -> ImagePrompts:
    """The prompts of a prompt json; a box entry that is not 4 numbers is left out (in `problems`)."""
    path = Path(path)
    try:
        data = json.loads(read_text(path))
    except (OSError, ValueError) as err:
        raise PromptError(f"cannot read prompt file {path}: {err}") from None
    if not isinstance(data, dict) or not set(data) <= set(PROMPT_KEYS) or not data:
        raise PromptError(
            f'prompt file {path} must be a json object with "boxes" (or "box") and/or "points", '
            f"got {data if not isinstance(data, dict) else sorted(data)}"
        )
    prompts = ImagePrompts(None, None, source=str(path))
    points = _entries(data, path, "points", "[x, y, label]") if "points" in data else []
    for i, entry in enumerate(points):
        if problem := _entry_problem(entry, 3, "[x, y, label]"):
            raise PromptError(prompts.where(f"points[{i}]") + problem)
    if points:
        prompts.points = np.asarray(points, np.float64).reshape(-1, 3)
    boxes = [data["box"]] if "box" in data else []
    if "boxes" in data:
        boxes = _entries(data, path, "boxes", "[x0, y0, x1, y1]")
    for i, entry in enumerate(boxes):
        if problem := _entry_problem(entry, 4, "[x0, y0, x1, y1]"):
            prompts.problems.append(prompts.where(f"boxes[{i}]") + problem)
        else:
            prompts.box_ids.append(i)
    if boxes:
        prompts.box_entries = len(boxes)
        kept = [boxes[i] for i in prompts.box_ids]
        prompts.boxes = np.asarray(kept, np.float64).reshape(-1, 4)
    if not boxes and not points:
        raise PromptError(
            f'prompt file {path} holds no prompt: give at least one entry in "boxes" (or "box") '
            'or "points"'
        )
    return prompts


def check_prompt_source(source: str | os.PathLike, n_images: int) -> None:
    """A single prompt file serves a single image; PromptError otherwise."""
    if n_images > 1 and not Path(source).is_dir():
        raise PromptError(
            f"--prompts {source} is one file but {n_images} images were given: "
            "pass a folder of <image stem>.json files"
        )


def prompts_for(
    image: str | os.PathLike, source: str | os.PathLike, n_images: int = 1
) -> ImagePrompts:
    """The prompts of `image` from a prompt file (one image only) or a folder of
    <image stem>.json files; PromptError naming the file that is missing or wrong."""
    check_prompt_source(source, n_images)
    image, source = Path(image), Path(source)
    if source.is_dir():
        path = source / f"{image.stem}.json"
        if not path.is_file():
            raise PromptError(f"no prompt for image {image}: expected the file {path}")
        return read_prompt_file(path)
    return read_prompt_file(source)


__all__ = ["PROMPT_KEYS", "ImagePrompts", "check_prompt_source", "prompts_for", "read_prompt_file"]
