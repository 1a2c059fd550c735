"""Temporary files that a killed run left behind, removed when the next run starts.

Every file this project replaces is written by files.atomic_write: a temporary
`.<target name>.<random>.tmp` beside the target, renamed over it when whole. A kill -9 (or a full
disk) in the middle leaves the temporary, which nothing would ever read or remove. A run's start
removes those of its own folders (the run folder, checkpoints/, export/) that are older than the
start, and those of the embedding cache folder that are also older than CACHE_WRITE_MARGIN_S (the
cache is shared: another run may be writing an entry right now; one entry takes well under a
second).
"""

import logging
from pathlib import Path

from hydra.utils import to_absolute_path
from lightning.pytorch.utilities import rank_zero_only

log = logging.getLogger(__name__)

CACHE_WRITE_MARGIN_S = 60.0
SHOWN = 3  # file names in the note


def is_atomic_write_temporary(path: Path) -> bool:
    """Whether `path` is named as files.atomic_write names its temporaries."""
    name = path.name
    return name.startswith(".") and name.endswith(".tmp") and name.count(".") >= 3


def stale_temporaries(folder: Path, before: float, *, recursive: bool = False) -> list[Path]:
    """atomic_write temporaries in `folder` (and below it, when recursive) last written before
    the time `before` (seconds since the epoch)."""
    if not folder.is_dir():
        return []
    candidates = folder.rglob(".*.tmp") if recursive else folder.glob(".*.tmp")
    stale = []
    for path in candidates:
        try:
            if is_atomic_write_temporary(path) and path.is_file():
                if path.stat().st_mtime < before:
                    stale.append(path)
        except OSError:  # removed meanwhile
            continue
    return sorted(stale)


def run_temporaries(cfg, started: float) -> list[Path]:
    """The stale temporaries of the run folder of `cfg`, its checkpoints/ and export/, and of its
    embedding cache folder when the cache is on."""
    output_dir = Path(cfg.paths.output_dir)
    found = [
        path
        for folder in (output_dir, output_dir / "checkpoints", output_dir / "export")
        for path in stale_temporaries(folder, started)
    ]
    cache = cfg.data.get("cache") or {}
    if cache.get("enabled") and cache.get("dir"):
        folder = Path(to_absolute_path(str(cache["dir"])))
        found += stale_temporaries(folder, started - CACHE_WRITE_MARGIN_S, recursive=True)
    return found


def remove_stale_temporaries(cfg, started: float) -> list[Path]:
    """Remove run_temporaries (on global rank 0 only) with a one-line note; returns them."""
    if rank_zero_only.rank != 0:
        return []
    removed = []
    for path in run_temporaries(cfg, started):
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as err:
            log.warning("could not remove the stale temporary file %s: %s", path, err.strerror)
            continue
        removed.append(path)
    if removed:
        names = ", ".join(str(p) for p in removed[:SHOWN])
        more = f" and {len(removed) - SHOWN} more" if len(removed) > SHOWN else ""
        log.info(
            "removed %d temporary file(s) an interrupted write left: %s%s",
            len(removed),
            names,
            more,
        )
    return removed


__all__ = ["is_atomic_write_temporary", "remove_stale_temporaries", "stale_temporaries"]
