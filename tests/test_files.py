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
    FolderInTheWayError,
    NotWritableError,
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
    with pytest.raises(DiskFullError, match="^no space left on the device writing .*a.json"):
        atomic_write_text(tmp_path / "a.json", "{}")


def test_other_write_errors_keep_their_type(tmp_path):
    with pytest.raises(RuntimeError, match="enforce fail at serialize.cpp") as info:
        other = RuntimeError("enforce fail at serialize.cpp")
        atomic_write(tmp_path / "a.bin", _write_then_fail(other))
    assert not isinstance(info.value, DiskFullError)
    with pytest.raises(ValueError, match="bad value"):
        atomic_write(tmp_path / "b.bin", _write_then_fail(ValueError("bad value")))
    assert os.listdir(tmp_path) == []


def test_tensor_bytes_and_format_bytes():
    import torch

    state = {"a": torch.zeros(10), "b": [torch.zeros(2, dtype=torch.float16)], "step": 3}
    assert tensor_bytes(state) == 44
    assert [format_bytes(n) for n in (12, 3400, 5_600_000, 7.8e9)] == [
        "12 B", "3.4 kB", "5.6 MB", "7.8 GB",
    ]


def test_the_permissions_follow_the_umask(tmp_path, monkeypatch):
    """atomic_write's file gets 0o666 less the process umask (mkstemp's 0600 is not kept)."""
    from samhq_train import files

    previous = os.umask(0o027)
    files._umask.cache_clear()
    try:
        path = atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(previous)
        files._umask.cache_clear()
    assert path.stat().st_mode & 0o777 == 0o640


def test_a_folder_digest_takes_its_files_in_sorted_order_whatever_their_creation_order(tmp_path):
    names = [f"{c}{i}.bin" for i in range(6) for c in "zqamx"]
    for name in reversed(names):
        (tmp_path / "sub" / name).parent.mkdir(exist_ok=True)
        (tmp_path / "sub" / name).write_bytes(name.encode())
    (tmp_path / "a.json").write_bytes(b"{}")
    expected = b"{}" + b"".join(n.encode() for n in sorted(names))
    assert file_sha256(tmp_path) == hashlib.sha256(expected).hexdigest()


def test_digests_read_a_file_in_many_chunks(tmp_path):
    data = bytes(range(256)) * 40
    (tmp_path / "a.bin").write_bytes(data)
    assert file_sha256(tmp_path / "a.bin", chunk_size=7) == hashlib.sha256(data).hexdigest()
    big = os.urandom((1 << 20) + 13)  # over file_digest's chunk
    (tmp_path / "big.bin").write_bytes(big)
    expected = hashlib.sha256(str(len(big)).encode() + b":" + big).hexdigest()
    assert file_digest(tmp_path / "big.bin") == expected


def _raised_while_handling(inner: BaseException, outer: BaseException, *, explicit: bool):
    """outer, raised from inner (explicit) or while handling it (implicit __context__)."""
    try:
        try:
            raise inner
        except BaseException as err:
            if explicit:
                raise outer from err
            raise outer  # noqa: B904 - the implicit chain is what is tested
    except BaseException as err:
        return err


@pytest.mark.parametrize("explicit", [True, False])
@pytest.mark.parametrize(
    ("inner", "outer", "why"),
    [
        (lambda: OSError(errno.ENOSPC, "full"), lambda: RuntimeError("saving failed"), "no space"),
        (
            lambda: ValueError("bad"),
            lambda: RuntimeError("[enforce fail at inline_container.cc:1] unexpected pos"),
            "the write came short",
        ),
    ],
)
def test_a_full_disk_is_found_down_the_error_chain(tmp_path, inner, outer, why, explicit):
    # fresh errors per case: a raised error keeps the __cause__ an earlier case gave it
    error = _raised_while_handling(inner(), outer(), explicit=explicit)
    with pytest.raises(DiskFullError, match=f"^{why}"):
        atomic_write(tmp_path / "a.bin", _write_then_fail(error))


@pytest.mark.parametrize("code", [28, 122])
def test_the_os_error_number_alone_says_a_full_disk(tmp_path, code):
    """A writer's message in another language still carries Rust's "(os error N)"."""
    error = RuntimeError(f"I/O error: Kein Speicherplatz auf dem Gerät (os error {code})")
    with pytest.raises(DiskFullError, match="^no space left on the device writing"):
        atomic_write(tmp_path / "a.bin", _write_then_fail(error))


def test_a_folder_where_the_file_goes_is_one_line_and_nothing_is_written(tmp_path):
    """Mutant: os.replace onto the folder (IsADirectoryError, a traceback, after the write)."""
    target = tmp_path / "store.json"
    target.mkdir()
    written = []
    with pytest.raises(FolderInTheWayError) as info:
        atomic_write(target, written.append)
    assert str(info.value) == (
        f"cannot write {target}: a folder is there, where that file goes; remove the folder (or "
        "write elsewhere) and run again"
    )
    assert isinstance(info.value, UserError) and isinstance(info.value, OSError)
    assert not written and os.listdir(tmp_path) == ["store.json"] and target.is_dir()


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.EFBIG, "File too large"),
        # safetensors' save_file (Rust's io::Error)
        RuntimeError("Error while serializing: I/O error: File too large (os error 27)"),
    ],
)
def test_a_file_past_the_size_limit_is_one_line_and_the_previous_file_stays(tmp_path, error):
    path = atomic_write_text(tmp_path / "last.ckpt", "good")
    with pytest.raises(DiskFullError) as info:
        atomic_write(path, _write_then_fail(error), size_hint=5_000_000)
    assert str(info.value).startswith(
        f"the file outgrew the size limit for files writing {path}: "
    )
    assert str(info.value).endswith(
        "; the previous last.ckpt is intact (nothing replaced it): raise the limit (or write to "
        "another file system) and run again"
    )
    assert path.read_text() == "good"
    assert os.listdir(tmp_path) == ["last.ckpt"]


@pytest.mark.parametrize(
    ("code", "words"), [(errno.EROFS, "read-only file system"), (errno.EACCES, "permission denied")]
)
@pytest.mark.parametrize("when", ["writing", "making the temporary file"])
def test_a_place_that_cannot_be_written_is_one_line(tmp_path, monkeypatch, code, words, when):
    """Root ignores permissions and a read-only mount needs root: the OSError is injected."""
    path = atomic_write_text(tmp_path / "report.json", "good")
    error = OSError(code, os.strerror(code))
    if when == "making the temporary file":
        def refused(*args, **kwargs):
            raise error

        monkeypatch.setattr(tempfile, "mkstemp", refused)
    with pytest.raises(NotWritableError) as info:
        atomic_write(path, _write_then_fail(error))
    assert str(info.value) == (
        f"cannot write {path}: {words}; the previous report.json is intact (nothing replaced it): "
        f"write elsewhere (or make {tmp_path} writable) and run again"
    )
    assert isinstance(info.value, UserError) and isinstance(info.value, OSError)
    assert path.read_text() == "good"
    assert os.listdir(tmp_path) == ["report.json"]


def test_a_refused_read_of_another_file_keeps_its_type(tmp_path):
    """A writer that reads a source it may not read: not a place that cannot be written."""
    source = tmp_path / "elsewhere" / "weights.bin"
    error = PermissionError(errno.EACCES, "Permission denied", str(source))
    (tmp_path / "out").mkdir()
    with pytest.raises(PermissionError) as info:
        atomic_write(tmp_path / "out" / "a.bin", _write_then_fail(error))
    assert not isinstance(info.value, NotWritableError)


FSIZE_WRITE = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
from samhq_train.files import atomic_write_bytes
from samhq_train.errors import exit_on_user_error
exit_on_user_error(atomic_write_bytes)(sys.argv[1], b"x" * 10_000)
"""


def test_a_real_file_size_limit_is_one_line_exit_2(tmp_path):
    """RLIMIT_FSIZE in a child process: the kernel's EFBIG, no root needed."""
    import subprocess
    import sys

    path = tmp_path / "cache.bin"
    path.write_bytes(b"before")
    done = subprocess.run(
        [sys.executable, "-c", FSIZE_WRITE, str(path)], capture_output=True, text=True
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        f"error: the file outgrew the size limit for files writing {path}: the limit is 4.1 kB "
        "(ulimit -f); the previous cache.bin is intact (nothing replaced it): raise the limit (or "
        "write to another file system) and run again\n"
    )
    assert path.read_bytes() == b"before"
    assert os.listdir(tmp_path) == ["cache.bin"]
