"""Output folders checked before any work: the one home of "can this be written?".

Every command checks where it will write before it reads weights or data: a training run's
folder (hydra.run.dir, before Hydra opens its log file there), evaluation's output_dir, the
embedding cache (data.cache.dir), export and predict targets. A folder that is a file, is under a
file, cannot be created or is not writable is one OutputError line naming the setting and the
path; nothing is written but a probe file, removed at once.

Writability is asked (os.access) and then tried with a probe file: os.access says yes to root on
a read-only mount.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Collection, Iterable
from pathlib import Path

from samhq_train.errors import UserError


class OutputError(UserError, ValueError):
    """An output folder or file that cannot be written as asked; the message names it."""


def nearest_existing(path: Path) -> Path:
    """`path` itself if it exists, else its closest existing ancestor."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def _probe_write(folder: Path) -> str | None:
    """None if a file can be created in `folder`, else the reason (the OS's words)."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return "read-only file system" if _read_only(folder) else "permission denied"
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        return err.strerror or type(err).__name__
    return None


def _read_only(folder: Path) -> bool:
    """Whether `folder`'s file system is mounted read-only (no permission would help)."""
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def check_writable_folder(
    folder: str | os.PathLike, setting: str, *, create_parents: bool = True, what: str = ""
) -> Path:
    """`folder` (absolute) if it is, or can be created as, a writable folder; else OutputError
    naming `setting` (e.g. "hydra.run.dir", "--out") and the path. `what`: what goes there, said
    in the message. Without create_parents its parent must exist already. Writes nothing."""
    folder = Path(folder).expanduser().absolute()
    there = f" ({what})" if what else ""
    if folder.exists() and not folder.is_dir():
        raise OutputError(
            f"{setting}={folder} is a file, not a folder{there}: give a folder (it is created if "
            "missing)"
        )
    existing = nearest_existing(folder)
    if not existing.is_dir():
        raise OutputError(
            f"{setting}={folder} cannot be created: {existing} is a file, not a folder; give "
            "another folder"
        )
    if existing not in (folder, folder.parent) and not create_parents:
        raise OutputError(
            f"{setting}={folder}: its parent folder {folder.parent} does not exist; create it "
            "first, or give another folder"
        )
    why = _probe_write(existing)
    if why is not None:
        where = "" if existing == folder else f" ({existing}, where it would be created)"
        raise OutputError(
            f"{setting}={folder} is not writable{where}: {why}{there}; give a writable folder"
        )
    return folder


def check_output_file(
    path: str | os.PathLike, flag: str, *, overwrite: bool, example: str | None = None
) -> Path:
    """A file a command writes (`flag`, e.g. "--json"): not a folder (`example`: a file name to
    suggest), in a writable folder (created if missing), an existing one replaced only with
    `overwrite`; else OutputError naming the flag. Writes nothing."""
    path = Path(path)
    if path.is_dir():
        hint = f", e.g. {example}" if example else ""
        raise OutputError(f"{flag} {path} is a folder; give the file to write{hint}")
    check_writable_folder(path.parent, f"{flag}'s folder")
    if path.exists() and not overwrite:
        raise OutputError(
            f"{flag} {path} already exists: pass --overwrite to replace it, or give another {flag}"
        )
    return path


def _taken(path: Path) -> bool:
    return path.is_file() or (path.is_dir() and any(path.iterdir()))


def check_output_dir(
    out_dir: str | os.PathLike,
    targets: Iterable[Path] = (),
    *,
    overwrite: bool = False,
    create_parents: bool = False,
    what: str = "--out",
    taken_hint: str = "pass --overwrite to replace it, or give another --out or --name",
    folder_targets: Collection[Path] = (),
    elsewhere: str = "give another --out or --name",
) -> None:
    """Refuse, before any work, an output folder that cannot take `targets`: a file, a folder
    that is not writable, a missing parent (unless create_parents), or targets that exist (a
    file, or a non-empty folder) when not `overwrite`. With `overwrite`, a target that exists as
    the other kind (a file where `folder_targets` has a folder, a folder where a file goes) is
    refused too: replacing it would not do what was asked (`elsewhere`: the way out the
    command offers). Writes nothing."""
    check_writable_folder(out_dir, what, create_parents=create_parents)
    targets = [Path(p) for p in targets]
    folders = {Path(p) for p in folder_targets}
    if overwrite:
        for path in targets:
            wants_folder = path in folders
            if path.exists() and path.is_dir() != wants_folder:
                is_, goes = ("a folder", "a file") if path.is_dir() else ("a file", "a folder")
                raise OutputError(
                    f"{path} is {is_} where {goes} is written, which --overwrite does not "
                    f"replace: remove it, or {elsewhere}"
                )
        return
    taken = [p for p in targets if _taken(p)]
    if taken:
        more = f" (and {len(taken) - 1} more)" if len(taken) > 1 else ""
        raise OutputError(f"{taken[0]} already exists{more}: {taken_hint}")


__all__ = ["OutputError", "check_output_dir", "check_writable_folder", "nearest_existing"]
