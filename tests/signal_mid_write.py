"""A signal (Ctrl-C, SIGTERM: both raise in the writing process) while one named output file is
written, half its bytes on disk: files.atomic_write's rename of that file's temporary raises
KeyboardInterrupt instead. A file written in place never gets there, so its write is not
interrupted and the check fails: a write that goes back to being in place is caught."""

import os
from pathlib import Path

import pytest

from samhq_train import files

EARLIER = b"an earlier run's file\n"


class _SignalAtRenameOf:
    """`os` as files.py sees it, but renaming a temporary over `name` truncates the temporary to
    half and raises KeyboardInterrupt (other files are renamed as usual)."""

    def __init__(self, name: str):
        self.name = name
        self.signalled = False

    def __getattr__(self, attr):
        return getattr(os, attr)

    def replace(self, src, dst):
        if Path(dst).name == self.name:
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
