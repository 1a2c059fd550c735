"""The demo-base rule on listings `sha256sum` itself writes (mutation audit round 6): a stand-in
data/demo_base/ whose SHA256SUMS comes from GNU sha256sum, in text and binary ("*name") mode,
with a name holding spaces, two shipped files of one size, a blank line and a listed file that is
absent. Every listed file present, wherever a copy lies, is one; other bytes of a listed size are
not."""

import hashlib
import shutil
import subprocess

import pytest

from samhq_train.model.formats import demo_bases
from samhq_train.model.formats.demo_bases import is_shipped_demo_base, shipped_sha256

pytestmark = pytest.mark.skipif(shutil.which("sha256sum") is None, reason="needs sha256sum")


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    """{name: bytes} of a stand-in demo-base folder the module reads instead of the real one."""
    folder = tmp_path / "demo_base"
    folder.mkdir()
    files = {
        "gone.pt": b"listed, then deleted",
        "vit base.pt": b"a name with a space" * 7,
        "sam2_a.safetensors": b"A" * 300,
        "sam2_b.safetensors": b"B" * 300,  # the same size as sam2_a
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)

    def listing(names, *flags):
        return subprocess.run(["sha256sum", *flags, *names], cwd=folder, check=True,
                              capture_output=True, text=True).stdout

    text = listing(["gone.pt", "vit base.pt"]) + "\n" + listing(
        ["sam2_a.safetensors", "sam2_b.safetensors"], "--binary")
    assert "*sam2_a.safetensors" in text and "  vit base.pt" in text  # sha256sum's two modes
    (folder / "SHA256SUMS").write_text(text)
    (folder / "gone.pt").unlink()
    del files["gone.pt"]
    monkeypatch.setattr(demo_bases, "DEMO_BASE_DIR", folder)
    monkeypatch.setattr(demo_bases, "SHA256SUMS", folder / "SHA256SUMS")
    return files


def test_the_listing_is_read_as_sha256sum_writes_it(shipped):
    listed = shipped_sha256()
    assert sorted(listed) == ["gone.pt", "sam2_a.safetensors", "sam2_b.safetensors", "vit base.pt"]
    for name, data in shipped.items():
        assert listed[name] == hashlib.sha256(data).hexdigest()


def test_copies_of_every_present_listed_file_are_demo_bases(shipped, tmp_path):
    for i, (name, data) in enumerate(shipped.items()):
        copy = tmp_path / f"copy{i}.bin"
        copy.write_bytes(data)
        assert is_shipped_demo_base(copy), name
        changed = tmp_path / f"changed{i}.bin"
        changed.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
        assert not is_shipped_demo_base(changed), name


def test_without_a_listing_nothing_is_a_demo_base(shipped, tmp_path):
    (demo_bases.SHA256SUMS).unlink()
    copy = tmp_path / "copy.bin"
    copy.write_bytes(shipped["sam2_a.safetensors"])
    assert shipped_sha256() == {} and not is_shipped_demo_base(copy)


def test_only_files_of_a_shipped_size_are_hashed(shipped, tmp_path, monkeypatch):
    hashed = []
    real = demo_bases.file_sha256
    monkeypatch.setattr(demo_bases, "file_sha256", lambda path: hashed.append(path) or real(path))
    other = tmp_path / "other.pt"
    other.write_bytes(b"x" * 301)
    assert not is_shipped_demo_base(other) and hashed == []
    same_size = tmp_path / "same.pt"
    same_size.write_bytes(b"x" * 300)
    assert not is_shipped_demo_base(same_size) and hashed == [same_size]


def test_a_path_that_cannot_be_a_file_is_not_a_demo_base(shipped, tmp_path):
    inside_a_file = tmp_path / "copy.bin" / "model.pt"
    inside_a_file.parent.write_bytes(shipped["sam2_a.safetensors"])
    assert not is_shipped_demo_base(inside_a_file)  # NotADirectoryError, not raised
    assert not is_shipped_demo_base(tmp_path / ("x" * 300))  # a name too long for the system


def test_a_folder_is_never_a_demo_base(shipped, tmp_path):
    """Not even one of a shipped file's size holding that file's bytes (file_sha256 hashes a
    folder's files): a folder is a transformers directory, say, never hashed here."""
    folder = tmp_path / "a_folder"
    folder.mkdir()
    (folder / "weights").write_bytes(b"")
    size = folder.stat().st_size
    data = b"s" * size
    (folder / "weights").write_bytes(data)
    assert folder.stat().st_size == size
    (demo_bases.DEMO_BASE_DIR / "sized.pt").write_bytes(data)
    with demo_bases.SHA256SUMS.open("a") as listing:
        listing.write(f"{hashlib.sha256(data).hexdigest()}  sized.pt\n")
    assert is_shipped_demo_base(folder / "weights")
    assert not is_shipped_demo_base(folder)
