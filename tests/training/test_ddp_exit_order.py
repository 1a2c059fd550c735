"""A further process of Lightning's own DDP launch that stops with an error leaves after rank 0
(its launcher), so that the run's exit status is rank 0's and not the SIGKILL of Lightning's
watch over the processes (test_concept_ddp.py shows it in a run); torchrun's and srun's
processes, which have no such watch, leave at once. A `sleep` stands in for rank 0."""

import os
import subprocess

import pytest

from samhq_train import distributed
from samhq_train.distributed import LAUNCHER_PID, exit_on_setup_error
from samhq_train.errors import UserError


def stops(reason: str):
    raise UserError(reason)


def has_a_bug(reason: str):
    raise RuntimeError(reason)


@pytest.fixture
def launcher(monkeypatch):
    """A rank 0 that outlives any wait: a process that waited for it would find it ended."""
    monkeypatch.setattr(distributed, "LAUNCHER_EXIT_WAIT_S", 60.0)
    process = subprocess.Popen(["sleep", "30"])
    yield process
    process.kill()
    process.wait()


def test_a_further_process_that_stops_leaves_once_rank_0_has_left(monkeypatch):
    rank_0 = subprocess.Popen(["sleep", "0.5"])
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv(LAUNCHER_PID, str(rank_0.pid))
    with pytest.raises(SystemExit) as leaving:
        exit_on_setup_error(stops)("data.root not found")
    assert leaving.value.code == 2
    assert rank_0.poll() is not None  # it had ended (this test reaps it)
    assert os.environ[LAUNCHER_PID] == str(rank_0.pid)  # Lightning's, kept


@pytest.mark.parametrize("local_rank", [None, "0"], ids=["srun / one process", "local rank 0"])
def test_rank_0_and_processes_not_launched_by_lightning_leave_at_once(
        monkeypatch, launcher, local_rank):
    monkeypatch.setenv(LAUNCHER_PID, str(launcher.pid))  # e.g. left by an outer command
    if local_rank is None:
        monkeypatch.delenv("LOCAL_RANK", raising=False)
    else:
        monkeypatch.setenv("LOCAL_RANK", local_rank)
    with pytest.raises(SystemExit):
        exit_on_setup_error(stops)("data.root not found")
    with pytest.raises(RuntimeError, match="^a bug$"):  # unchanged, its traceback Python's
        exit_on_setup_error(has_a_bug)("a bug")
    assert launcher.poll() is None
    assert os.environ[LAUNCHER_PID] == str(launcher.pid)  # the environment as it was


def test_a_further_process_that_dies_of_a_bug_leaves_once_rank_0_has_left(monkeypatch, capsys):
    """Its traceback first, then the wait, then Python's status for an uncaught exception."""
    rank_0 = subprocess.Popen(["sleep", "0.5"])
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv(LAUNCHER_PID, str(rank_0.pid))
    with pytest.raises(SystemExit) as leaving:
        exit_on_setup_error(has_a_bug)("a bug")
    assert leaving.value.code == 1
    assert rank_0.poll() is not None  # it had ended (this test reaps it)
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):")
    assert err.rstrip().endswith("RuntimeError: a bug")


def test_an_in_process_run_takes_back_the_launcher_pid_it_set(monkeypatch):
    """Rank 0 names itself for the processes it starts, during its run only."""
    monkeypatch.delenv(LAUNCHER_PID, raising=False)
    monkeypatch.delenv("LOCAL_RANK", raising=False)
    seen = []
    exit_on_setup_error(lambda: seen.append(os.environ.get(LAUNCHER_PID)))()
    assert seen == [str(os.getpid())] and LAUNCHER_PID not in os.environ
    for main in (stops, has_a_bug):
        with pytest.raises((SystemExit, RuntimeError)):
            exit_on_setup_error(main)("a reason")
        assert LAUNCHER_PID not in os.environ


def test_torchrun_processes_and_finished_runs_leave_at_once(monkeypatch, launcher):
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.delenv(LAUNCHER_PID, raising=False)  # torchrun: no Lightning launcher
    with pytest.raises(SystemExit):
        exit_on_setup_error(stops)("data.root not found")
    monkeypatch.setenv(LAUNCHER_PID, str(launcher.pid))  # e.g. left by an outer command
    monkeypatch.setenv("TORCHELASTIC_RUN_ID", "none")
    with pytest.raises(SystemExit):
        exit_on_setup_error(stops)("data.root not found")
    monkeypatch.delenv("TORCHELASTIC_RUN_ID")
    assert exit_on_setup_error(lambda: 7)() == 7  # a run that ends well does not wait
    assert launcher.poll() is None


class _Store:
    """A process group's store whose wait for keys not set fails at once (a real one would
    take the whole timeout): the keys it found missing are kept."""

    def __init__(self):
        self.keys, self.waited_out = {}, []

    def set(self, key, value):
        self.keys[key] = value

    def get(self, key):
        return self.keys[key].encode()

    def wait(self, keys, timeout):
        missing = [key for key in keys if key not in self.keys]
        if missing:
            self.waited_out += missing
            raise RuntimeError("wait timed out")


def test_rank_0_does_not_wait_for_a_further_process_that_died_of_a_bug(monkeypatch, capsys):
    """Rank 0 keeps its store until every further rank has read its words (report_once); a rank
    that died of a bug never reads them, and says so before it waits for rank 0 to leave."""
    store = _Store()
    monkeypatch.setattr(distributed, "_initialized", lambda: True)
    rank_0 = subprocess.Popen(["sleep", "0"])
    rank_0.wait()  # already left: the dying rank's wait ends at once
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv(LAUNCHER_PID, str(rank_0.pid))
    monkeypatch.setattr(distributed, "_shared_store", lambda: (store, 1, 2))
    with pytest.raises(SystemExit):
        exit_on_setup_error(has_a_bug)("a bug")
    monkeypatch.setattr(distributed, "_shared_store", lambda: (store, 0, 2))
    distributed.report_once(distributed.RankStopped("rank 1 stopped: RuntimeError: a bug"))
    assert store.waited_out == []
    assert capsys.readouterr().err.rstrip().endswith("rank 1 stopped: RuntimeError: a bug")


def test_a_process_dying_of_a_bug_after_its_store_has_gone_still_leaves(monkeypatch, capsys):
    class Gone(_Store):
        def set(self, key, value):
            raise RuntimeError("Connection reset by peer")

    monkeypatch.setattr(distributed, "_initialized", lambda: True)
    monkeypatch.setattr(distributed, "_shared_store", lambda: (Gone(), 1, 2))
    rank_0 = subprocess.Popen(["sleep", "0"])
    rank_0.wait()
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv(LAUNCHER_PID, str(rank_0.pid))
    with pytest.raises(SystemExit) as leaving:
        exit_on_setup_error(has_a_bug)("a bug")
    assert leaving.value.code == 1
    assert capsys.readouterr().err.rstrip().endswith("RuntimeError: a bug")
