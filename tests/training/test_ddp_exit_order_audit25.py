"""Mutation audit (round 25) of distributed.leave_after_launcher and exit_on_setup_error: which
processes wait for Lightning's rank 0 (the launcher's pid, a rank other than 0, not torchrun's,
not the launcher itself), for how long, a sys.exit() without a status, and _process_ended where
there are no pidfds or the process is already gone."""

import os
import subprocess
import sys
import threading
import time

import pytest

from samhq_train import distributed
from samhq_train.distributed import LAUNCHER_PID, exit_on_setup_error, leave_after_launcher


@pytest.fixture
def waits(monkeypatch):
    """The waits leave_after_launcher asks for, none made."""
    asked = []
    monkeypatch.setattr(distributed, "_process_ended", lambda pid, timeout: asked.append(
        (pid, timeout)))
    monkeypatch.delenv("TORCHELASTIC_RUN_ID", raising=False)
    return asked


def test_a_further_process_waits_the_whole_time_for_the_launcher(monkeypatch, waits):
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv(LAUNCHER_PID, "4194303")
    leave_after_launcher()
    assert waits == [(4194303, distributed.LAUNCHER_EXIT_WAIT_S)]


@pytest.mark.parametrize("local_rank, launcher", [
    (None, "4194303"),  # no LOCAL_RANK: this process is rank 0 of Lightning's launch
    ("1", "own pid"),  # the launcher itself never waits for itself (xdist: one id per worker)
    ("1", "not-a-pid"),
    ("1", ""),
])
def test_who_does_not_wait(monkeypatch, waits, local_rank, launcher):
    if local_rank is None:
        monkeypatch.delenv("LOCAL_RANK", raising=False)
    else:
        monkeypatch.setenv("LOCAL_RANK", local_rank)
    monkeypatch.setenv(LAUNCHER_PID, str(os.getpid()) if launcher == "own pid" else launcher)
    leave_after_launcher()
    assert waits == []


def test_a_further_process_that_calls_sys_exit_without_a_status_does_not_wait(
        monkeypatch, waits):
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv(LAUNCHER_PID, "4194303")
    with pytest.raises(SystemExit) as leaving:
        exit_on_setup_error(sys.exit)()
    assert leaving.value.code is None and waits == []
    with pytest.raises(SystemExit):
        exit_on_setup_error(sys.exit)(3)
    assert waits == [(4194303, distributed.LAUNCHER_EXIT_WAIT_S)]


def _reaped_after(seconds: float) -> subprocess.Popen:
    """A process that ends after `seconds` and is reaped at once (as rank 0 is, by its shell:
    an unreaped child would still answer kill(pid, 0))."""
    process = subprocess.Popen(["sleep", str(seconds)])
    threading.Thread(target=process.wait, daemon=True).start()
    return process


def test_without_pidfds_the_wait_looks_until_the_process_has_ended(monkeypatch):
    monkeypatch.delattr(os, "pidfd_open", raising=False)
    process = _reaped_after(0.3)
    start = time.monotonic()
    assert distributed._process_ended(process.pid, 30.0) is True
    # it looked until the end (poll() here could race the reaping thread, which holds its lock)
    assert time.monotonic() - start >= 0.25


def test_a_process_already_gone_has_ended(monkeypatch):
    process = subprocess.Popen(["true"])
    process.wait()
    assert distributed._process_ended(process.pid, 30.0) is True
    monkeypatch.delattr(os, "pidfd_open", raising=False)
    assert distributed._process_ended(process.pid, 30.0) is True
