"""Generated datasets written once: a marker file records the generator's parameters, the files
are written into a temporary sibling folder and renamed into place (so concurrent callers, DDP
ranks among them, are safe), a root written with other parameters is rewritten, and a non-empty
root that no generator wrote is never touched. A kill mid-write leaves no half set in the root,
only the temporary beside it. A root of files without a marker is refused even if a generator
wrote them (an older writer stopped mid-way): the files alone cannot tell it from the user's. A
full disk or a place that cannot be written is files.write_errors' one line naming the root (the
temporary removed); generators write their pictures with write_picture, which raises the
system's error where cv2.imwrite would only return False."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from samhq_train.files import write_errors

from .image_files import DataError

MARKER = ".demo.json"


@dataclass(frozen=True)
class Generated:
    """A kind of generated set: the marker file naming its parameters, and the data configs
    that read the user's own files of that kind (named in the refusal)."""

    marker: str
    own_data: str


IMAGE_DEMO = Generated(MARKER, "data=folder, data=coco or data=coco_concept")


def marker_params(root: Path, marker: str = MARKER) -> dict | None:
    try:
        return json.loads((root / marker).read_text())
    except (OSError, ValueError):
        return None


def check_generated_root(root: Path, key: str = "data.root", kind: Generated = IMAGE_DEMO) -> None:
    """DataError for a `root` (the config's `key`) a generator may not write: a non-empty folder
    without the marker of `kind` (most likely the user's own data, given to a data config that
    generates its set). A marker cut short (an older writer stopped) still marks the root as the
    generator's: it is rewritten."""
    if root.is_dir() and not (root / kind.marker).is_file() and any(root.iterdir()):
        raise DataError(
            f"{key}={root} is not demo data made by samhq_train (it holds other files), "
            "and a demo data config writes its synthetic set there: to use these files "
            f"give their data config ({kind.own_data}; data/README.md shows the layouts), "
            f"else point {key} at another folder"
        )


def write_once(root: str | Path, params: dict, write: Callable[[Path], None],
               key: str = "data.root", kind: Generated = IMAGE_DEMO) -> bool:
    """Make `root` hold what write(folder) writes for `params` unless it already does; True when
    this call wrote it. DataError for a non-empty root without the marker of `kind`."""
    root = Path(root).expanduser().resolve()
    if marker_params(root, kind.marker) == params:
        return False
    check_generated_root(root, key, kind)
    with write_errors(root):
        return _write_and_rename(root, params, write, kind)


def _write_and_rename(root: Path, params: dict, write: Callable[[Path], None],
                      kind: Generated) -> bool:
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        write(tmp)
        (tmp / kind.marker).write_text(json.dumps(params, indent=1))
        if marker_params(root, kind.marker) == params:  # another process finished first
            return False
        if root.exists():  # stale demo data (other parameters)
            shutil.rmtree(root)
        try:
            os.rename(tmp, root)
        except OSError:
            if marker_params(root, kind.marker) != params:
                raise
        return True
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def write_picture(path: Path, image: np.ndarray, params: tuple[int, ...] = ()) -> None:
    """Write `image` (OpenCV's BGR, or one channel) encoded by `path`'s suffix: a write that
    fails (a full disk) raises its OSError, where cv2.imwrite returns False unnoticed."""
    ok, data = cv2.imencode(path.suffix, image, list(params))
    if not ok:
        raise ValueError(f"OpenCV could not encode {path.name}")
    path.write_bytes(data.tobytes())
