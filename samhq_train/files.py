"""File utilities every layer uses: atomic writes and file digests.

atomic_write is the one way this project replaces a file: write a temporary file in the same
folder, then rename it over the target (atomic on POSIX), so a crash never leaves a truncated
file where a good one was. atomic_write_folder is its counterpart for a folder of files (a
transformers directory, ONNX graphs): written as a temporary sibling folder, renamed into place
at the end; the earlier folder, renamed aside meanwhile, is put back by the next write if a kill
came between the renames (interrupted_write_note says where it is to a reader meanwhile).

Two digests, kept apart because their values are recorded in files already written:
file_sha256 is the plain sha256 of a file (checkpoints record their base's, the README prints the
demo base's); file_digest is what the embedding cache keys samples by (several files, each
prefixed by its length).

A full disk (ENOSPC / EDQUOT, also as torch's "enforce fail at inline_container.cc ... unexpected
pos" or safetensors' StorageFull) while atomic_write writes becomes DiskFullError: one line naming
the file, the space it needed and the space free, and that the previous file is intact. A file
past the size limit for files is a DiskFullError too, a place that cannot be written
NotWritableError: write_failures.py, whose names are re-exported here, makes those lines.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from samhq_train.errors import UserError
from samhq_train.write_failures import (
    DISK_FULL_ERRNOS,
    DiskFullError,
    NotWritableError,
    disk_full_message,
    disk_full_reason,
    format_bytes,
    write_error,
    write_errors,
)

CHUNK = 1 << 20


class FolderInTheWayError(UserError, OSError):
    """atomic_write's target is a folder: nothing is written; the message names it."""


class FileInTheWayError(UserError, OSError):
    """atomic_write_folder's target is a file: nothing is written; the message names it."""


class BrokenLinkError(UserError, OSError):
    """atomic_write_folder's target is a symbolic link to nothing: nothing is written; the
    message names the link and where it points."""


def atomic_write(
    path: str | os.PathLike, write: Callable[[str], None], *, size_hint: int | None = None
) -> Path:
    """Call write(tmp) with a temporary path beside `path`, then rename it over `path`; on any
    failure the temporary file is removed and `path` is left as it was. Returns `path`.

    A full disk raises DiskFullError; size_hint (bytes, e.g. tensor_bytes of what is written) is
    the space it reports as needed, else the bytes written before the disk filled. A file past
    the size limit is DiskFullError too, a read-only or forbidden place NotWritableError. A folder
    where the file goes raises FolderInTheWayError before anything is written."""
    path = Path(path)
    if path.is_dir():
        raise FolderInTheWayError(
            f"cannot write {path}: a folder is there, where that file goes; remove the folder "
            "(or write elsewhere) and run again"
        )
    with write_errors(path, size_hint):
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    written = 0
    with write_errors(path, size_hint, lambda: written):
        try:
            write(tmp)
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's file is private (0600): normal permissions
            os.replace(tmp, path)
        except BaseException:
            written = _remove(tmp)
            raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """atomic_write of a text file."""
    data = text.encode()
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data), size_hint=len(data))


def atomic_write_bytes(path: str | os.PathLike, data: Any) -> Path:
    """atomic_write of a file of `data`: bytes, or any buffer (cv2.imencode's array of an encoded
    picture)."""
    data = bytes(data)
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data), size_hint=len(data))


def atomic_write_folder(
    path: str | os.PathLike,
    write: Callable[[Path], None],
    *,
    replaces: Collection[str],
    size_hint: int | None = None,
) -> Path:
    """Call write(tmp) with an empty temporary folder beside `path`, then rename it into place:
    `path` is the whole new folder or, on any failure, as it was (the temporary removed). Returns
    `path`.

    An earlier folder at `path` is replaced whole: of its entries, those named in `replaces` (all
    the writer ever writes there) go, any other (the user's) is carried into the new folder. A
    full disk raises DiskFullError naming the folder (size_hint as for atomic_write); a file
    where the folder goes raises FileInTheWayError before anything is written.

    The earlier folder is renamed aside (`.<name>.<id>.old`), the new one in, then the user's
    entries moved over: what a kill in between (SIGKILL, a power cut) leaves aside, the next
    write of `path` puts back first; interrupted_write_note tells a reader where it is.

    A symbolic link at `path` is written through, as a plain write into it would be: the folder
    it points to is replaced (the temporary beside that folder, on its disk), the link kept. A
    link to nothing raises BrokenLinkError (its target is not made: maybe an unmounted disk)."""
    path = given = Path(path)
    if path.is_symlink():
        path = path.resolve()
        if not path.exists():
            raise BrokenLinkError(
                f"cannot write {given}: it is a link to {path}, which is not there; make that "
                "folder (or mount its disk), or remove the link, and run again"
            )
    if path.exists() and not path.is_dir():
        raise FileInTheWayError(
            f"cannot write {given}: a file is there, where that folder goes; remove the file "
            "(or write elsewhere) and run again"
        )
    _restore_interrupted(path, replaces)
    with write_errors(path, size_hint):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    written = 0
    with write_errors(path, size_hint, lambda: written):
        try:
            write(tmp)
            os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp's folder is private (0700)
            aside = _move_folder_into_place(tmp, path)
        except BaseException:
            written = sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file())
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    if aside is not None:
        _carry_users_entries(aside, path, replaces)
    return given


def _move_folder_into_place(tmp: Path, path: Path) -> Path | None:
    """Rename `tmp` to `path`; an earlier non-empty `path` is renamed aside first (and back on
    failure): where it is, returned (None: there was none)."""
    if not path.exists() or not any(path.iterdir()):
        os.replace(tmp, path)  # over an empty folder too
        return None
    aside = tmp.with_name(tmp.name.removesuffix(".tmp") + ".old")
    os.replace(path, aside)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.replace(aside, path)
        raise
    return aside


def _carry_users_entries(aside: Path, path: Path, replaces: Collection[str]) -> None:
    """Move the entries of the earlier folder `aside` that the writer does not write (not in
    `replaces`) into the new folder `path`, then remove `aside`. An entry whose name `path`
    holds already stays, and `aside` with it: nothing the user wrote is removed."""
    users = [entry for entry in aside.iterdir() if entry.name not in replaces]
    for entry in users:
        if not os.path.lexists(path / entry.name):
            os.rename(entry, path / entry.name)
    if not any(os.path.lexists(entry) for entry in users):
        shutil.rmtree(aside, ignore_errors=True)


def interrupted_writes(path: str | os.PathLike) -> list[Path]:
    """The earlier folders that interrupted atomic_write_folder calls of `path` left renamed
    aside beside it (`.<name>.<id>.old`), oldest first."""
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[^.]+\.old")
    try:
        found = [e for e in path.parent.iterdir() if pattern.fullmatch(e.name) and e.is_dir()]
    except OSError:  # no parent folder (or not readable): nothing was left there
        return []
    return sorted(found, key=lambda e: e.stat().st_mtime)


def _restore_interrupted(path: Path, replaces: Collection[str]) -> None:
    """Undo what an atomic_write_folder of `path` killed between its renames left: the earlier
    folder renamed aside goes back to `path` if nothing is there (the half-finished write's
    temporary removed); if the new folder got there, the user's entries move into it."""
    for aside in interrupted_writes(path):
        if not os.path.lexists(path):
            os.replace(aside, path)
            shutil.rmtree(aside.with_name(aside.name.removesuffix(".old") + ".tmp"),
                          ignore_errors=True)
        elif path.is_dir():
            _carry_users_entries(aside, path, replaces)


def interrupted_write_note(path: str | os.PathLike) -> str:
    """For a reader that finds `path` missing: where an interrupted atomic_write_folder left
    the earlier folder (" (an interrupted write left ...: rename it back to ...)"), else ""."""
    strays, name = interrupted_writes(path), Path(path).name
    if not strays:
        return ""
    return (f" (an interrupted write left the earlier {name} at {strays[-1]}: rename it back "
            f"to {name}, or write it again)")


@contextmanager
def all_or_none(written: list[Path]) -> Iterator[list[Path]]:
    """One result's files (an image's json, masks and overlay), each listed in `written` as its
    write begins: if the block stops (a signal, a full disk), every one of them is removed, so
    none of a result stays without the others."""
    try:
        yield written
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        raise


def tensor_bytes(obj: Any) -> int:
    """The bytes of the tensors (anything with .nbytes) in a nested dict / list / tuple: what a
    file of them needs on disk, give or take its headers."""
    if hasattr(obj, "nbytes") and not isinstance(obj, int | float | str | bytes):
        return int(obj.nbytes)
    if isinstance(obj, dict):
        return sum(tensor_bytes(v) for v in obj.values())
    if isinstance(obj, list | tuple):
        return sum(tensor_bytes(v) for v in obj)
    return 0


def _remove(tmp: str) -> int:
    """Remove a temporary file; its size before (0 if it was gone)."""
    try:
        size = os.path.getsize(tmp)
        os.unlink(tmp)
    except FileNotFoundError:
        return 0
    return size


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


__all__ = [
    "DISK_FULL_ERRNOS", "BrokenLinkError", "DiskFullError", "FileInTheWayError",
    "FolderInTheWayError", "NotWritableError", "all_or_none", "atomic_write",
    "atomic_write_bytes", "atomic_write_folder", "atomic_write_text", "disk_full_message",
    "disk_full_reason", "file_digest", "file_sha256", "format_bytes", "interrupted_write_note",
    "interrupted_writes", "tensor_bytes", "write_error", "write_errors",
]
