"""Generated datasets written once: a marker file records the generator's parameters, the files
are written into a temporary sibling folder and renamed into place (so concurrent callers, DDP
ranks among them, are safe), a root written with other parameters is rewritten, and a non-empty
root that no generator wrote is never touched."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from .image_files import DataError

MARKER = ".demo.json"


def marker_params(root: Path) -> dict | None:
    try:
        return json.loads((root / MARKER).read_text())
    except (OSError, ValueError):
        return None


def check_generated_root(root: Path) -> None:
    """DataError for a `root` a generator may not write: a non-empty folder without a marker
    (most likely the user's own data, given to a data config that generates its set)."""
    if root.is_dir() and marker_params(root) is None and any(root.iterdir()):
        raise DataError(
            f"data.root={root} is not demo data made by samhq_train (it holds other files), "
            "and a demo data config writes its synthetic set there: to train on these files "
            "give their data config (data=folder, data=coco or data=coco_concept; "
            "data/README.md shows the layouts), else point data.root at another folder"
        )


def write_once(root: str | Path, params: dict, write: Callable[[Path], None]) -> bool:
    """Make `root` hold what write(folder) writes for `params` unless it already does; True when
    this call wrote it. DataError for a non-empty root without a marker."""
    root = Path(root).expanduser().resolve()
    if marker_params(root) == params:
        return False
    check_generated_root(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}.", dir=root.parent))
    try:
        write(tmp)
        (tmp / MARKER).write_text(json.dumps(params, indent=1))
        if marker_params(root) == params:  # another process finished first
            return False
        if root.exists():  # stale demo data (other parameters)
            shutil.rmtree(root)
        try:
            os.rename(tmp, root)
        except OSError:
            if marker_params(root) != params:
                raise
        return True
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
