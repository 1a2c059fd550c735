"""Claim files: how concurrent builders of one cache share the work.

A builder encodes one batch of entries (a chunk) at a time and first claims it by creating
``<store>/claims/<chunk id>.claim`` with O_EXCL (atomic on POSIX and NFSv3+); other builders skip a
claimed chunk, build the unclaimed ones, then wait for the claimed ones to appear. A claim is
stale, and taken over, when its process is gone (same host: the pid no longer runs) or it is
older than STALE_AFTER_S (any host; a claim lives for one batch's encoding); its holder first
removes the temporary files a killed writer left (FeatureStore.remove_partial). Claims only avoid
duplicate work: entries are written atomically, so two builders writing one entry (a stale claim
taken over from a slow process) still leave one complete entry.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

from samhq_train.files import write_errors

STALE_AFTER_S = 600.0
# O_EXCL creates a claim empty and its owner is written after: an unreadable claim younger than this
# is being written (held); an older one was cut short by a killed writer (stale)
UNREADABLE_GRACE_S = 30.0


def _owner() -> dict:
    return {"host": socket.gethostname(), "pid": os.getpid()}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return float("inf")  # gone meanwhile: not stale


def is_stale(path: Path, now: float | None = None) -> bool:
    """Whether the claim at `path` is held by nobody (its owner gone, or too old)."""
    try:
        age = (time.time() if now is None else now) - path.stat().st_mtime
        owner = json.loads(path.read_text())
    except FileNotFoundError:
        return False  # released meanwhile: not stale, just gone
    except (OSError, ValueError):  # being written (UNREADABLE_GRACE_S) or cut short
        return (time.time() if now is None else now) - _mtime(path) > UNREADABLE_GRACE_S
    if age > STALE_AFTER_S:
        return True
    if isinstance(owner, dict) and owner.get("host") == socket.gethostname():
        pid = owner.get("pid")
        return not (isinstance(pid, int) and _alive(pid))
    return False


def take(path: Path) -> bool:
    """Claim `path` for this process: True when created (or taken over from a stale claim)."""
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
        except FileExistsError:
            if not is_stale(path):
                return False
            path.unlink(missing_ok=True)  # taken over; a racing taker may win the create
            continue
        try:
            with write_errors(path), os.fdopen(fd, "w") as fh:
                json.dump(_owner(), fh)
        except BaseException:
            path.unlink(missing_ok=True)  # an empty claim would hold the entry until stale
            raise
        return True
    return False


def release(path: Path) -> None:
    path.unlink(missing_ok=True)
