"""Why a file could not be written, as one line naming it: a full disk or quota (ENOSPC /
EDQUOT, also as torch's "enforce fail at inline_container.cc ... unexpected pos" or safetensors'
"(os error 28)"), a file past the size limit for files (EFBIG: `ulimit -f`, or the file system's
largest file) — both DiskFullError —, or a place that cannot be written (EROFS, EACCES, EPERM:
NotWritableError). Each line says whether the previous file is intact and what to do.

files.atomic_write and atomic_write_folder report through write_errors; so do writers that do
not go through them (a library that writes its own temporary files, e.g. torch.onnx).
"""

from __future__ import annotations

import errno
import os
import resource
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from samhq_train.errors import UserError

DISK_FULL_ERRNOS = (errno.ENOSPC, errno.EDQUOT)
NOT_WRITABLE_ERRNOS = (errno.EROFS, errno.EACCES, errno.EPERM)
DISK_FULL = "no space left on the device"
TOO_LARGE = "the file outgrew the size limit for files"
# how writers that raise no OSError say it: safetensors' "I/O error: No space left on device (os
# error 28)" (Rust's io::Error)
DISK_FULL_TEXTS = (
    "no space left on device", "disk quota exceeded", "(os error 28)", "(os error 122)",
)
TOO_LARGE_TEXTS = ("file too large", "(os error 27)")
# torch's zip writer loses the errno: a write that came short is "[enforce fail at
# inline_container.cc:...] unexpected pos ..." (or "file write failed")
SHORT_WRITE_TEXT = "inline_container.cc"


class DiskFullError(UserError, OSError):
    """A file could not be written because its file system is full (or the quota is used up);
    the message names the file, the space needed and free, and that the previous file is intact.
    Also an OSError, so handlers of write errors keep catching it."""


class NotWritableError(UserError, OSError):
    """A file could not be written where it goes: a read-only file system, or no permission; the
    message names the file and that the previous file is intact."""


@contextmanager
def write_errors(
    path: str | os.PathLike, size_hint: int | None = None, written: Callable[[], int] = lambda: 0
) -> Iterator[None]:
    """Inside, an error that says the disk is full, the file outgrew the size limit
    (DiskFullError) or `path` cannot be written there (NotWritableError) becomes that one line
    naming `path` (size_hint: the bytes it needs; written(): those written before it failed);
    any other error passes unchanged. The writer inside removes what it left."""
    try:
        yield
    except (DiskFullError, NotWritableError):
        raise
    except BaseException as err:
        error = write_error(Path(path), err, size_hint, written())
        if error is None:
            raise
        raise error from err


def write_error(
    path: Path, err: BaseException, size_hint: int | None, written: int
) -> UserError | None:
    """The one-line error for `err` while `path` was written, or None when it is not about the
    place (a bug keeps its traceback)."""
    why = disk_full_reason(err)
    if why is not None:
        return DiskFullError(disk_full_message(path, why, size_hint or written, written))
    refused = not_writable_reason(err, path)
    if refused is not None:
        return NotWritableError(
            f"cannot write {path}: {refused}; {_kept(path)}: write elsewhere (or make "
            f"{path.parent} writable) and run again"
        )
    return None


def _chain(err: BaseException | None) -> Iterator[BaseException]:
    """`err` and the errors it was raised from or while handling, each once."""
    seen = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        yield err
        err = err.__cause__ or err.__context__


def disk_full_reason(err: BaseException) -> str | None:
    """What `err` (or an error it was raised from) says about a full disk: DISK_FULL or
    TOO_LARGE (errno or the writer's words), a hedged reason for torch's short write (its
    limit's words when a file size limit is set), else None."""
    short = False
    for each in _chain(err):
        number = each.errno if isinstance(each, OSError) else None
        text = str(each).lower()
        if number in DISK_FULL_ERRNOS or any(words in text for words in DISK_FULL_TEXTS):
            return DISK_FULL
        if number == errno.EFBIG or any(words in text for words in TOO_LARGE_TEXTS):
            return TOO_LARGE
        short = short or SHORT_WRITE_TEXT in text
    if not short:
        return None
    if _file_size_limit() is not None:
        return "the write came short (a full disk, a quota or the size limit for files)"
    return "the write came short (a full disk or quota)"


def not_writable_reason(err: BaseException, path: Path) -> str | None:
    """What `err` (or an error it was raised from) says about `path`'s place that cannot be
    written: its system's words ("read-only file system", "permission denied"), else None. An
    error naming a file outside `path`'s folder (a source the writer reads) is not about it."""
    for each in _chain(err):
        if isinstance(each, OSError) and each.errno in NOT_WRITABLE_ERRNOS:
            named = Path(os.path.abspath(each.filename)) if each.filename else None
            folder = Path(os.path.abspath(path.parent))
            if named is None or folder == named or folder in named.parents:
                return os.strerror(each.errno).lower()
    return None


def disk_full_message(path: Path, why: str, needed: int, written: int = 0) -> str:
    """The one line of a full disk (or a file past the size limit) while `path` was written (its
    temporary file removed)."""
    if why == TOO_LARGE:
        limit = _file_size_limit()
        where = (
            f"the limit is {format_bytes(limit)} (ulimit -f)" if limit is not None
            else "past the largest file its file system holds"
        )
        return (
            f"{why} writing {path}: {where}; {_kept(path)}: raise the limit (or write to another "
            "file system) and run again"
        )
    free = f"{format_bytes(_free_bytes(path.parent))} is free there"
    if needed > written:
        space = f"it needs about {format_bytes(needed)}, {free}"
    elif written:
        space = f"it needs more than {format_bytes(written)}, {free}"
    else:
        space = free
    return (
        f"{why} writing {path}: {space}; {_kept(path)}: free some space (or write elsewhere) and "
        "run again"
    )


def _kept(path: Path) -> str:
    return (
        f"the previous {path.name} is intact (nothing replaced it)"
        if path.exists()
        else "nothing is left behind (no earlier file was there)"
    )


def _file_size_limit() -> int | None:
    """The process's limit on a file's size in bytes (`ulimit -f`), None if there is none."""
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return None if soft == resource.RLIM_INFINITY else soft



def format_bytes(n: int) -> str:
    """12 B, 3.4 kB, 5.6 MB, 7.8 GB (powers of 1000)."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"




def _free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 0

