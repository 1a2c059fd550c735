"""samhq_train.files: the one atomic write and the two file digests (their values are recorded in
checkpoints and cache keys, so they must never change)."""

import hashlib
import os

import pytest

from samhq_train.files import atomic_write, atomic_write_text, file_digest, file_sha256


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
