"""The prompts file of samhq-video: a JSON list, one entry per object and frame (and round).

    [
      {"frame": 0, "object": 1, "points": [[120, 80], [200, 90]], "labels": [1, 0]},
      {"frame": 0, "object": 2, "box": [40, 30, 200, 160]},
      {"frame": 0, "object": 2, "box": [40, 30, 200, 160], "points": [[90, 70]]},
      {"frame": 12, "object": 3, "mask": "car_mask.png"},
      {"round": 2, "frame": 30, "object": 1, "points": [[140, 85], [150, 60]], "labels": [1, 0]}
    ]

frame: index into the frames in order (0 = the first); object: the id written into the output
PNGs (1-255); points: [x, y] in video pixels (on the frame), labels 1 (object) or 0
(background), all 1 when left out; box: [x0, y0, x1, y1] in video pixels; mask: an image file
(relative to the prompts file), the video's size, nonzero = object, instead of points and box.
One entry per (frame, object) in a round. Error lines name an entry by its index in the list,
as the frames are numbered: prompts.json[0] is the first.

round (1 when left out; rounds numbered 1, 2, 3, ... without gaps): the official interactive
workflow. Round 1's entries are added, then every object is tracked through the video; each later
round's entries then correct tracked frames (each decoded with the object's memory and its earlier
mask there; points replace that object's earlier points on that frame, so give all its clicks)
and the video is tracked again. Entries of one round are added in file order; the masks written
are those of the last round. Refused, as the official predictors would take them without effect
or not at all: with batched objects (the official HQ-SAM 2 rule) an object that first appears
after round 1, and a later click on a frame prompted in round 1 (batched: for any object, as such
a frame conditions all of them); with independent objects (Meta sam2 1.1.0) a later click on a
frame of the object's first round. Independent objects follow Meta 1.1.0 in tracking a corrected
frame again, so there later rounds serve mostly to add objects. With an HQ-SAM 3 / SAM 3 model
(batched only) a later click on any frame is taken: Meta's SAM 3 tracker makes every clicked frame
a conditioning frame, decoded without memory from the object's earlier mask there.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from samhq_train.errors import UserError
from samhq_train.user_files import read_text

KEYS = ("round", "frame", "object", "points", "labels", "box", "mask")
OBJECT_IDS = (1, 255)  # the ids an 8-bit PNG can hold


class PromptsFileError(UserError):
    """A prompts file that cannot be used; the message names the file, the entry and the key."""


@dataclass(frozen=True)
class VideoPrompt:
    frame: int
    obj_id: int
    points: list | None = None
    labels: list | None = None
    box: list | None = None
    mask: np.ndarray | None = None  # H x W bool
    round: int = 1
    entry: int = field(default=0, compare=False)  # its index in the file's list, for messages


def entry_at(path: str | Path, index: int) -> str:
    """An entry of the file, by its index in the list (0: the first): prompts.json[3]."""
    return f"{path}[{index}]"


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _integer(entry: dict, key: str, where: str, low: int, high: int, limit: str = "") -> int:
    value = entry.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise PromptsFileError(f"{where}: {key!r} must be a whole number, not {value!r}")
    if not low <= value <= high:
        what = "frame" if key == "frame" else "object id"
        hint = f"use {low} to {high}"
        if key == "frame":
            hint = f"frames {low} to {high} are read {limit}" if limit else (
                f"the video has frames {low} to {high}")
        raise PromptsFileError(f"{where}: {what} {value} does not exist ({hint})")
    return value


def _round(entry: dict, where: str) -> int:
    value = entry.get("round", 1)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise PromptsFileError(f"{where}: 'round' must be 1, 2, 3, ... (1 when left out), "
                               f"not {value!r}")
    return value


def _prompt(
    entry, index: int, where: str, folder: Path, num_frames: int, video_hw, limit,
    obj_ids=OBJECT_IDS,
) -> VideoPrompt:
    if not isinstance(entry, dict):
        raise PromptsFileError(f"{where} must be an object with keys {', '.join(KEYS)}")
    unknown = sorted(set(entry) - set(KEYS))
    if unknown:
        raise PromptsFileError(f"{where}: unknown key {unknown[0]!r} (known: {', '.join(KEYS)})")
    for key in ("frame", "object"):
        if key not in entry:
            raise PromptsFileError(f"{where}: {key!r} is missing")
    frame = _integer(entry, "frame", where, 0, num_frames - 1, limit)
    obj_id = _integer(entry, "object", where, *obj_ids)
    round_ = _round(entry, where)
    if "mask" in entry:
        if {"points", "labels", "box"} & set(entry):
            raise PromptsFileError(f"{where}: give 'mask' alone, or points / box without it")
        mask = _read_mask(entry["mask"], where, folder, video_hw)
        return VideoPrompt(frame, obj_id, mask=mask, round=round_, entry=index)
    points, labels, box = entry.get("points"), entry.get("labels"), entry.get("box")
    if points is None and box is None:
        raise PromptsFileError(f"{where}: give 'points', 'box' or 'mask'")
    if points is not None:
        if not isinstance(points, list) or not points or not all(
            isinstance(p, list) and len(p) == 2 and all(map(_is_number, p)) for p in points
        ):
            raise PromptsFileError(f"{where}: 'points' must be a list of [x, y] pairs")
        labels = [1] * len(points) if labels is None else labels
        if not isinstance(labels, list) or len(labels) != len(points) or any(
            v not in (0, 1) or isinstance(v, bool) for v in labels
        ):
            raise PromptsFileError(f"{where}: 'labels' must be one 1 or 0 per point")
    elif labels is not None:
        raise PromptsFileError(f"{where}: 'labels' without 'points'")
    if box is not None and not (
        isinstance(box, list) and len(box) == 4 and all(map(_is_number, box))
    ):
        raise PromptsFileError(f"{where}: 'box' must be [x0, y0, x1, y1]")
    for key, corners in (("points", points or []), ("box", [box[:2], box[2:]] if box else [])):
        _check_inside(where, key, corners, entry[key] if corners else None, video_hw)
    return VideoPrompt(frame, obj_id, points, labels, box, round=round_, entry=index)


def _check_inside(where: str, key: str, corners: list, given, video_hw) -> None:
    """Every [x, y] of `corners` finite and on the frame (0 to W, 0 to H, as the app's pages
    check clicks): a point off the video is a mistake (another resolution's coordinates)."""
    height, width = video_hw
    for x, y in corners:
        if not (math.isfinite(x) and math.isfinite(y) and 0 <= x <= width and 0 <= y <= height):
            raise PromptsFileError(
                f"{where}: {key} {given}: [{x}, {y}] lies outside the {width} x {height} video; "
                "give [x, y] in the video's pixels"
            )


def _read_mask(name, where: str, folder: Path, video_hw) -> np.ndarray:
    if not isinstance(name, str):
        raise PromptsFileError(f"{where}: 'mask' must be an image file name")
    path = folder / name
    try:
        with Image.open(path) as image:
            mask = np.array(image.convert("L")) > 0
    except FileNotFoundError:
        raise PromptsFileError(f"{where}: mask file {path} not found") from None
    except (OSError, UnidentifiedImageError) as err:
        raise PromptsFileError(f"{where}: mask {path} is not a readable image ({err})") from None
    if mask.shape != tuple(video_hw):
        raise PromptsFileError(
            f"{where}: mask {path} is {mask.shape[1]}x{mask.shape[0]}, the video "
            f"{video_hw[1]}x{video_hw[0]}: give a mask of the video's size"
        )
    return mask


def read_prompts(
    path: str | Path,
    num_frames: int,
    video_hw: tuple[int, int],
    objects: str = "batched",
    limit: str = "",
    sam3: bool | None = False,
    obj_ids: tuple[int, int] = OBJECT_IDS,
) -> list[VideoPrompt]:
    """The prompts of a file, checked against the video (frames, size), in the order they are
    added (by round, then as in the file): PromptsFileError with one line naming the file, the
    entry and the key otherwise. objects: the predictor's mode (batched or independent), which
    decides which rounds' entries are possible (see the module's docstring), with sam3 whether
    the model is SAM 3's (None: not known yet; check_rounds again once it is); limit: what made
    num_frames less than the video's frames (e.g. "with --max-frames 10"), for the messages;
    obj_ids: the lowest and highest object id taken."""
    path = Path(path)
    try:
        entries = json.loads(read_text(path))
    except FileNotFoundError:
        raise PromptsFileError(f"{path}: prompts file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise PromptsFileError(f"{path}: not a readable JSON file ({err})") from None
    if not isinstance(entries, list) or not entries:
        raise PromptsFileError(f"{path}: must be a non-empty JSON list of prompts")
    prompts, seen = [], set()
    for i, entry in enumerate(entries):
        where = entry_at(path, i)
        prompt = _prompt(entry, i, where, path.parent, num_frames, video_hw, limit, obj_ids)
        if (prompt.round, prompt.frame, prompt.obj_id) in seen:
            in_round = f" in round {prompt.round}" if prompt.round > 1 else ""
            raise PromptsFileError(
                f"{where}: object {prompt.obj_id} already has a prompt on frame "
                f"{prompt.frame}{in_round}; put all its points and its box in one entry"
            )
        seen.add((prompt.round, prompt.frame, prompt.obj_id))
        prompts.append(prompt)
    _check_gaps(prompts, path)
    check_rounds(prompts, path, objects, sam3)
    return sorted(prompts, key=lambda p: p.round)


def _check_gaps(prompts: list[VideoPrompt], path: Path) -> None:
    rounds = {p.round for p in prompts}
    for prompt in prompts:
        if prompt.round > 1 and prompt.round - 1 not in rounds:
            raise PromptsFileError(
                f"{entry_at(path, prompt.entry)}: round {prompt.round} but no entry has round "
                f"{prompt.round - 1}; number the rounds 1, 2, 3, ... without gaps"
            )


def check_rounds(
    prompts: list[VideoPrompt], path: str | Path, objects: str, sam3: bool | None = False
) -> None:
    """Batched objects all in round 1; no later clicks on a frame that conditions the object (see
    the module's docstring), except with SAM 3 (batched only), whose tracker decodes such a click
    again: with sam3=None (the family not known yet) batched clicks are not checked."""
    in_file_order = sorted(prompts, key=lambda p: p.entry)  # read_prompts sorts them by round
    first: dict[int, int] = {}  # object -> its first round
    for prompt in prompts:
        first[prompt.obj_id] = min(prompt.round, first.get(prompt.obj_id, prompt.round))
    for prompt in in_file_order:
        if objects == "batched" and first[prompt.obj_id] > 1:
            raise PromptsFileError(
                f"{entry_at(path, prompt.entry)}: object {prompt.obj_id} first appears in round "
                f"{first[prompt.obj_id]}: batched objects (the official rule) are prompted in "
                "round 1 first; add it to round 1, or use --objects independent"
            )
    if sam3 or (sam3 is None and objects == "batched"):
        return
    conditioning: dict[tuple[int, int | None], int] = {}  # (frame, object) -> its round
    for prompt in prompts:  # batched: a frame prompted for any object conditions all of them
        if prompt.round == first[prompt.obj_id]:
            key = (prompt.frame, None if objects == "batched" else prompt.obj_id)
            conditioning[key] = prompt.round
    for prompt in in_file_order:
        key = (prompt.frame, None if objects == "batched" else prompt.obj_id)
        if conditioning.get(key, prompt.round) < prompt.round:
            raise PromptsFileError(
                f"{entry_at(path, prompt.entry)}: frame {prompt.frame} was prompted in round "
                f"{conditioning[key]} and keeps those masks (the official rule); put these "
                f"clicks in round {conditioning[key]}'s prompt there, or click on another frame"
            )
