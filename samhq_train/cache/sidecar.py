"""file_digests.json: the samples' file digests remembered by the files' state, so that planning a
run reads only new or changed files.

A record is [state, digest, check]: state = (size, mtime, ctime, inode, device) of each file,
check = a hash of (paths, state, digest). A record whose check fails (hand-edited, moved to
another path, or of an older sidecar format) is ignored and its files are hashed again. A record
that is well-formed but stale (its files rewritten with the same size and times, as on file
systems with coarse timestamps) is caught where the entry is used: the datasets hash the sample's
files again on every read (CachedTrainDataset, CachedEvalDataset) and refuse a mismatch.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from samhq_train.files import atomic_write_text, file_digest
from samhq_train.user_files import read_text

from .store import digest


def _file_state(path) -> list[int]:
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev]


def _check(key: str, state: list, value: str) -> str:
    return digest({"paths": key, "state": state, "digest": value})[:32]


class FileDigestMemo:
    """file_digest results remembered by the files' state (size, mtime, ctime, inode, device) in
    one JSON sidecar beside the stores. ctime changes on every write and cannot be set back, so a
    rewritten file is hashed again (see the module docstring for what else is checked)."""

    NAME = "file_digests.json"

    def __init__(self, root: str | Path):
        self.path = Path(root) / self.NAME
        try:
            loaded = json.loads(read_text(self.path))
            self.entries = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError):  # absent or damaged: everything is hashed again
            self.entries = {}
        self.changed = False

    def _known(self, key: str, state: list) -> str | None:
        record = self.entries.get(key)
        if not (isinstance(record, list) and len(record) == 3 and record[0] == state):
            return None
        if not isinstance(record[1], str) or record[2] != _check(key, state, record[1]):
            return None
        return record[1]

    def __call__(self, *paths) -> str:
        """files.file_digest(*paths), from the sidecar when no file changed since it was
        recorded."""
        key = "\n".join(os.path.abspath(p) for p in paths)
        state = [_file_state(p) for p in paths]
        known = self._known(key, state)
        if known is not None:
            return known
        value = file_digest(*paths)
        if [_file_state(p) for p in paths] == state:  # not recorded if a file changed while hashed
            self.entries[key] = [state, value, _check(key, state, value)]
            self.changed = True
        return value

    def save(self) -> None:
        """Write the sidecar atomically (after planning) if anything was added."""
        if not self.changed:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, json.dumps(self.entries))
        self.changed = False
