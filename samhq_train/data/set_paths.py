"""Where a source's files are: a config entry's paths taken from data.root, its folder and file
checked (DataError naming the set and the path), and a long list of file names shortened for a
message. Used by every source type (datasets.py, coco_instances.py) and by data.roots' checks."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from samhq_train.user_files import not_a_file

from .image_files import DataError

LAYOUT_HINT = "check data.root and the set's folders (data/README.md shows the expected layout)"


def list_names(paths: Sequence[Path], limit: int = 10) -> str:
    names = ", ".join(p.name for p in paths[:limit])
    return names + (f" ... and {len(paths) - limit} more" if len(paths) > limit else "")


def check_set_dir(path: Path, what: str, dataset: str) -> None:
    if not path.is_dir():
        raise DataError(f"{dataset}: {what} not found: {path}; {LAYOUT_HINT}")


def check_set_file(path: Path, what: str, dataset: str) -> None:
    """DataError unless `path` is a regular file this process may read: missing, a folder (a pipe,
    a broken link) or one without read permission, each said as what it is."""
    if not os.path.lexists(path):
        raise DataError(f"{dataset}: {what} not found: {path}; {LAYOUT_HINT}")
    if not path.is_file():
        raise DataError(f"{dataset}: {what} {path} is {not_a_file(path)}: give the file itself; "
                        f"{LAYOUT_HINT}")
    if not os.access(path, os.R_OK):
        raise DataError(f"{dataset}: {what} {path} cannot be read (no read permission): allow "
                        "reading it (chmod a+r), or give a copy this user may read")


def resolve_set_path(path: str | Path, root: Path | None, dataset: str) -> Path:
    path = Path(path).expanduser()
    if path.is_absolute():
        return path
    if root is None:
        raise DataError(
            f"dataset {dataset!r}: {str(path)!r} is relative but data.root is not set; "
            "pass data.root=/path/to/data or give absolute folders"
        )
    return root / path
