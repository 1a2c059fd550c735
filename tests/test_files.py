"""samhq_train.files: the one atomic write and the two file digests (their values are recorded in
checkpoints and cache keys, so they must never change)."""

import errno
import hashlib
import os
import tempfile

import pytest

from samhq_train.errors import UserError
from samhq_train.files import (
    DiskFullError,
    atomic_write,
    atomic_write_text,
    file_digest,
    file_sha256,
    format_bytes,
    tensor_bytes,
)


def test_atomic_write_replaces_whole_or_not_at_all(tmp_path):
    path = atomic_write_text(tmp_path / "a.json", "first")
    assert path.read_text() == "first"
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask

    def crash(tmp):
        with open(tmp, "w") as handle:
            handle.write("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, crash)
    assert path.read_text() == "first"
    assert os.listdir(tmp_path) == ["a.json"]


def test_digest_values(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"abc")
    (tmp_path / "b.bin").write_bytes(b"de")
    assert file_sha256(tmp_path / "a.bin") == hashlib.sha256(b"abc").hexdigest()
    assert (
        file_digest(tmp_path / "a.bin", tmp_path / "b.bin")
        == hashlib.sha256(b"3:abc2:de").hexdigest()
    )
    # a folder (a transformers directory): its files in sorted order
    assert file_sha256(tmp_path) == hashlib.sha256(b"abcde").hexdigest()


def _write_then_fail(error: BaseException, written: bytes = b"x" * 1000):
    """A writer that fills part of its file, then fails as a full disk does."""

    def write(tmp):
        with open(tmp, "wb") as handle:
            handle.write(written)
        raise error

    return write


@pytest.mark.parametrize(
    ("error", "why"),
    [
        (OSError(errno.ENOSPC, "No space left on device"), "no space left on the device"),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), "no space left on the device"),
        # torch.save's zip writer loses the errno (what a full disk gave in #19)
        (
            RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598"),
            "the write came short (a full disk or quota)",
        ),
        # safetensors' save_file (Rust's io::Error)
        (
            RuntimeError(
                "Error while serializing: I/O error: No space left on device (os error 28)"
            ),
            "no space left on the device",
        ),
    ],
)
def test_a_full_disk_is_one_line_and_the_previous_file_stays(tmp_path, error, why):
    path = atomic_write_text(tmp_path / "last.ckpt", "good")
    with pytest.raises(DiskFullError) as info:
        atomic_write(path, _write_then_fail(error), size_hint=5_000_000)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{why} writing {path}: it needs about 5.0 MB, ")
    assert " is free there; the previous last.ckpt is intact" in message
    assert isinstance(info.value, UserError) and isinstance(info.value, OSError)
    assert path.read_text() == "good"
    assert os.listdir(tmp_path) == ["last.ckpt"]  # the temporary file is removed


def test_a_full_disk_without_a_size_hint_says_what_was_written(tmp_path):
    left = r"it needs more than 1.0 kB, .* nothing is left behind \(no earlier file was there\)"
    with pytest.raises(DiskFullError, match=left):
        atomic_write(tmp_path / "new.bin", _write_then_fail(OSError(errno.ENOSPC, "full")))
    assert os.listdir(tmp_path) == []


def test_a_full_disk_before_the_temporary_file_exists(tmp_path, monkeypatch):
    def no_inode(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(tempfile, "mkstemp", no_inode)
    with pytest.raises(DiskFullError, match="No space left on device writing .*a.json"):
        atomic_write_text(tmp_path / "a.json", "{}")


def test_other_write_errors_keep_their_type(tmp_path):
    with pytest.raises(RuntimeError, match="enforce fail at serialize.cpp") as info:
        other = RuntimeError("enforce fail at serialize.cpp")
        atomic_write(tmp_path / "a.bin", _write_then_fail(other))
    assert not isinstance(info.value, DiskFullError)
    with pytest.raises(PermissionError):
        atomic_write(tmp_path / "b.bin", _write_then_fail(PermissionError(errno.EACCES, "no")))
    assert os.listdir(tmp_path) == []


def test_tensor_bytes_and_format_bytes():
    import torch

    state = {"a": torch.zeros(10), "b": [torch.zeros(2, dtype=torch.float16)], "step": 3}
    assert tensor_bytes(state) == 44
    assert [format_bytes(n) for n in (12, 3400, 5_600_000, 7.8e9)] == [
        "12 B", "3.4 kB", "5.6 MB", "7.8 GB",
    ]
