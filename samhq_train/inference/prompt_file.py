"""The prompt-file format of scripts/predict.py: one json per image, in original image pixels.

    {"boxes": [[x0, y0, x1, y1], ...], "points": [[x, y, label], ...]}    ("box": [...] for one box)

A prompt source is one such file (for a single image) or a folder of <image stem>.json files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .predictor import PromptError

PROMPT_KEYS = ("box", "boxes", "points")


def read_prompt_file(path: str | os.PathLike) -> dict:
    """{"boxes": B x 4 or None, "points": N x 3 or None} (float64) from a prompt json."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise PromptError(f"cannot read prompt file {path}: {err}") from None
    if not isinstance(data, dict) or not set(data) <= set(PROMPT_KEYS) or not data:
        raise PromptError(
            f'prompt file {path} must be a json object with "boxes" (or "box") and/or "points", '
            f"got {data if not isinstance(data, dict) else sorted(data)}"
        )
    boxes = data.get("boxes", [data["box"]] if "box" in data else None)
    try:
        boxes = None if boxes is None else np.asarray(boxes, np.float64).reshape(-1, 4)
        points = data.get("points")
        points = None if points is None else np.asarray(points, np.float64).reshape(-1, 3)
    except (TypeError, ValueError) as err:
        raise PromptError(
            f'prompt file {path}: "boxes" must be [x0, y0, x1, y1] lists and "points" '
            f"[x, y, label] lists ({err})"
        ) from None
    return {"boxes": boxes, "points": points}


def prompts_for(image: str | os.PathLike, source: str | os.PathLike, n_images: int = 1) -> dict:
    """The prompts of `image` from a prompt file (one image only) or a folder of
    <image stem>.json files; PromptError naming the file that is missing or wrong."""
    image, source = Path(image), Path(source)
    if source.is_dir():
        path = source / f"{image.stem}.json"
        if not path.is_file():
            raise PromptError(f"no prompt for image {image}: expected the file {path}")
        return read_prompt_file(path)
    if n_images > 1:
        raise PromptError(
            f"--prompts {source} is one file but {n_images} images were given: "
            "pass a folder of <image stem>.json files"
        )
    return read_prompt_file(source)


__all__ = ["PROMPT_KEYS", "prompts_for", "read_prompt_file"]
