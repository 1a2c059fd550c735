"""File utilities every layer uses: atomic writes and file digests.

atomic_write is the one way this project replaces a file: write a temporary file in the same
folder, then rename it over the target (atomic on POSIX), so a crash never leaves a truncated
file where a good one was.

Two digests, kept apart because their values are recorded in files already written:
file_sha256 is the plain sha256 of a file (checkpoints record their base's, the README prints the
demo base's); file_digest is what the embedding cache keys samples by (several files, each
prefixed by its length).
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

CHUNK = 1 << 20


def atomic_write(path: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call write(tmp) with a temporary path beside `path`, then rename it over `path`; on any
    failure the temporary file is removed and `path` is left as it was. Returns `path`."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's file is private (0600): normal permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """atomic_write of a text file."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text))


@functools.cache
def _umask() -> int:
    umask = os.umask(0)  # reading the umask means setting it: once per process
    os.umask(umask)
    return umask


def _update(digest, handle, chunk_size: int = CHUNK) -> None:
    while chunk := handle.read(chunk_size):
        digest.update(chunk)


def file_sha256(path: str | os.PathLike, chunk_size: int = 1 << 24) -> str:
    """sha256 of a file, or of the sorted files of a folder (a transformers directory)."""
    path = Path(path)
    files: Iterable[Path] = (
        sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    )
    digest = hashlib.sha256()
    for file in files:
        with open(file, "rb") as handle:
            _update(digest, handle, chunk_size)
    return digest.hexdigest()


def file_digest(*paths: str | os.PathLike) -> str:
    """sha256 over the bytes of the files, in order, each prefixed by its length (the embedding
    cache's content key of a sample)."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as handle:
            digest.update(str(os.fstat(handle.fileno()).st_size).encode() + b":")
            _update(digest, handle)
    return digest.hexdigest()
