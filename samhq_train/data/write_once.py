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


def write_once(root: str | Path, params: dict, write: Callable[[Path], None]) -> bool:
    """Make `root` hold what write(folder) writes for `params` unless it already does; True when
    this call wrote it. DataError for a non-empty root without a marker."""
    root = Path(root).expanduser().resolve()
    if marker_params(root) == params:
        return False
    if root.exists() and any(root.iterdir()) and marker_params(root) is None:
        raise DataError(
            f"{root} exists and is not demo data made by samhq_train; move it away or point "
            "data.root at another folder"
        )
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
