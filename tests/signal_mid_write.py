"""A signal (Ctrl-C, SIGTERM: both raise in the writing process) while one named output file is
written, half its bytes on disk: files.atomic_write's rename of that file's temporary raises
KeyboardInterrupt instead. A file written in place never gets there, so its write is not
interrupted and the check fails: a write that goes back to being in place is caught. The same
for a folder written whole (files.atomic_write_folder): the rename of a file in it, or of the
folder itself, raises. killed_writing_folder: the process writing a folder is killed (SIGKILL:
nothing runs after it) at one of its renames."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from samhq_train import files

EARLIER = b"an earlier run's file\n"


class _SignalAtRenameOf:
    """`os` as files.py sees it, but the first rename of a temporary over `name` truncates the
    temporary (a file) to half and raises KeyboardInterrupt (other renames go through as usual,
    as does any later one over `name`: a signal comes once)."""

    def __init__(self, name: str):
        self.name = name
        self.signalled = False

    def __getattr__(self, attr):
        return getattr(os, attr)

    def replace(self, src, dst):
        if Path(dst).name == self.name and not self.signalled:
            if os.path.isfile(src):
                os.truncate(src, os.path.getsize(src) // 2)
            self.signalled = True
            raise KeyboardInterrupt
        os.replace(src, dst)


def check_signal_keeps_earlier_file(monkeypatch, target: Path, write) -> None:
    """With an earlier file at `target`, a signal while write() writes it leaves that file as it
    was and nothing else behind: no temporary, no partial file, anywhere in target's folder."""
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(EARLIER)
    with monkeypatch.context() as patch:
        signal = _SignalAtRenameOf(target.name)
        patch.setattr(files, "os", signal)
        with pytest.raises(KeyboardInterrupt):
            write()
    assert signal.signalled
    assert target.read_bytes() == EARLIER
    left = [p.name for p in target.parent.iterdir() if p.name.startswith(".")]
    assert left == [], f"temporaries left beside {target.name}: {left}"


def folder_content(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` (its path relative to it) -> its bytes."""
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def check_signal_keeps_earlier_folder(monkeypatch, target: Path, write, at: str) -> None:
    """With an earlier folder at `target`, a signal as write() renames `at` (a file written in the
    folder, or the folder itself) leaves the folder as it was and nothing beside it: no
    temporary folder, no half-written file."""
    before = folder_content(target)
    assert before, f"no earlier folder at {target}"
    with monkeypatch.context() as patch:
        signal = _SignalAtRenameOf(at)
        patch.setattr(files, "os", signal)
        with pytest.raises(KeyboardInterrupt):
            write()
    assert signal.signalled, f"{at} was not renamed into place: written in place?"
    assert folder_content(target) == before
    left = [p.name for p in target.parent.iterdir() if p.name.startswith(".")]
    assert left == [], f"temporaries left beside {target.name}: {left}"


# a child process that writes a folder as test_folder_written_whole's writers do, killed by
# SIGKILL (no handler, no cleanup) as files.py renames an entry to the name `at`
KILLED_WRITE = """
import os, signal, sys
from pathlib import Path
from samhq_train import files

class KilledAt:
    def __getattr__(self, attr):
        return getattr(os, attr)
    def replace(self, src, dst):
        self.kill_at(dst)
        os.replace(src, dst)
    def rename(self, src, dst):
        self.kill_at(dst)
        os.rename(src, dst)
    def kill_at(self, dst):
        if Path(dst).name == {at!r}:
            os.kill(os.getpid(), signal.SIGKILL)

def write(folder):
    (folder / "a.json").write_text("new a")
    (folder / "b.bin").write_bytes(b"new b")

files.os = KilledAt()
files.atomic_write_folder({target!r}, write, replaces={replaces!r})
"""


def killed_writing_folder(target: Path, at: str, replaces) -> None:
    """Run files.atomic_write_folder of `target` in a child process killed by SIGKILL as an
    entry is renamed to `at` (the folder itself, or a file carried into it)."""
    script = KILLED_WRITE.format(at=at, target=str(target), replaces=tuple(replaces))
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == -signal.SIGKILL, done.stderr
