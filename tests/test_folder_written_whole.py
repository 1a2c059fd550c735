"""files.atomic_write_folder: a folder (a transformers directory, ONNX graphs) appears whole or
not at all; an earlier one is replaced whole, the user's own files in it carried over, the
writer's stale ones dropped; a full disk is one line naming the folder."""

import errno
import os

import pytest

from samhq_train.files import (
    DiskFullError,
    FileInTheWayError,
    atomic_write_folder,
    interrupted_writes,
)
from samhq_train.user_files import not_a_folder
from tests.signal_mid_write import (
    check_signal_keeps_earlier_folder,
    folder_content,
    killed_writing_folder,
)

OWN = ("a.json", "b.bin", "b.bin.data")


def write_two(folder):
    (folder / "a.json").write_text("new a")
    (folder / "b.bin").write_bytes(b"new b")


def earlier(path):
    path.mkdir()
    (path / "a.json").write_text("old a")
    (path / "b.bin.data").write_bytes(b"stale")  # the writer's, not written this time
    (path / "notes.txt").write_text("mine")  # the user's
    return path


def test_a_new_folder_is_written_with_normal_permissions(tmp_path):
    path = atomic_write_folder(tmp_path / "out", write_two, replaces=OWN)
    assert folder_content(path) == {"a.json": b"new a", "b.bin": b"new b"}
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o777 & ~umask
    assert os.listdir(tmp_path) == ["out"]


def test_an_earlier_folder_is_replaced_keeping_the_users_files(tmp_path):
    path = atomic_write_folder(earlier(tmp_path / "out"), write_two, replaces=OWN)
    assert folder_content(path) == {"a.json": b"new a", "b.bin": b"new b", "notes.txt": b"mine"}
    assert os.listdir(tmp_path) == ["out"]


@pytest.mark.parametrize("at", ["a.json", "out"])
def test_a_signal_mid_write_keeps_the_earlier_folder(tmp_path, monkeypatch, at):
    """Ctrl-C as a file in the folder is renamed into place (written through atomic_write, as
    the ONNX graphs are), or as the folder itself is: the earlier folder is as it was."""
    from samhq_train.files import atomic_write_text

    def write(folder):
        atomic_write_text(folder / "a.json", "new a")
        (folder / "b.bin").write_bytes(b"new b")

    path = earlier(tmp_path / "out")
    check_signal_keeps_earlier_folder(
        monkeypatch, path, lambda: atomic_write_folder(path, write, replaces=OWN), at
    )


def test_a_failed_write_leaves_no_folder(tmp_path):
    def fail(folder):
        write_two(folder)
        raise ValueError("broken")

    with pytest.raises(ValueError, match="broken"):
        atomic_write_folder(tmp_path / "out", fail, replaces=OWN)
    assert os.listdir(tmp_path) == []


def test_a_full_disk_is_one_line_naming_the_folder(tmp_path):
    def full(folder):
        (folder / "a.json").write_bytes(b"x" * 3000)
        raise OSError(errno.ENOSPC, "No space left on device")

    path = earlier(tmp_path / "out")
    with pytest.raises(DiskFullError) as info:
        atomic_write_folder(path, full, replaces=OWN, size_hint=5000)
    assert str(info.value).startswith(
        f"no space left on the device writing {path}: it needs about 5.0 kB, "
    )
    assert "; the previous out is intact (nothing replaced it): " in str(info.value)
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_a_file_where_the_folder_goes_is_refused_before_writing(tmp_path):
    (tmp_path / "out").write_text("a file")
    with pytest.raises(FileInTheWayError, match="a file is there, where that folder goes"):
        atomic_write_folder(tmp_path / "out", write_two, replaces=OWN)
    assert os.listdir(tmp_path) == ["out"]


def test_a_write_killed_between_its_renames_is_undone_by_the_next(tmp_path):
    """SIGKILL after the earlier folder was renamed aside, before the new one was renamed in: no
    folder at `out`; a reader's line says where the earlier one is; the next write puts it back
    first, so a write that then fails leaves it as it was, the user's file in it. Mutant: no
    restore (`out` missing after the failed write, notes.txt hidden)."""
    path = earlier(tmp_path / "out")
    before = folder_content(path)
    killed_writing_folder(path, "out", OWN)
    assert not path.exists()
    (aside,) = interrupted_writes(path)
    assert not_a_folder(path) == (
        f"folder not found (an interrupted write left the earlier out at {aside}: rename it "
        "back to out, or write it again)"
    )

    def fail(folder):
        raise ValueError("broken")

    with pytest.raises(ValueError, match="broken"):
        atomic_write_folder(path, fail, replaces=OWN)
    assert folder_content(path) == before
    assert os.listdir(tmp_path) == ["out"]  # the killed write's temporary folder removed too


@pytest.mark.parametrize("at", ["out", "notes.txt"])
def test_the_users_file_survives_a_killed_write(tmp_path, at):
    """Killed between the renames, or as the user's file moves into the new folder: the next
    write ends with the new files and the user's. Mutant: the user's file moved into the
    temporary folder before the renames (lost in it when the kill comes)."""
    path = earlier(tmp_path / "out")
    killed_writing_folder(path, at, OWN)
    atomic_write_folder(path, write_two, replaces=OWN)
    assert folder_content(path) == {"a.json": b"new a", "b.bin": b"new b", "notes.txt": b"mine"}
    assert interrupted_writes(path) == []
