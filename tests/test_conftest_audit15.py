"""The test run's worker count and thread share (tests/conftest.py; audit 15): `-n auto` gives a
worker per core as far as the memory holds GIB_PER_WORKER each, and a worker of a parallel run
takes its share of the cores for torch and the commands it starts (OMP_NUM_THREADS); a run of
one process is left as it is."""

import os

import pytest
import torch

from tests import conftest

GIB = 2**30


def machine(monkeypatch, cores: int, memory_gib: float) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)))
    sizes = {"SC_PAGE_SIZE": 4096, "SC_PHYS_PAGES": int(memory_gib * GIB / 4096)}
    monkeypatch.setattr(os, "sysconf", lambda name: sizes[name])


@pytest.mark.parametrize("cores, memory_gib, workers", [
    (8, 10, 3),  # the memory holds 3
    (2, 100, 2),  # a worker per core
    (4, 2, 1),  # at least one
])
def test_auto_workers_are_the_cores_the_memory_holds(monkeypatch, cores, memory_gib, workers):
    """Mutants: the larger of cores and memory's count; the memory counted in MiB."""
    machine(monkeypatch, cores, memory_gib)
    assert conftest.GIB_PER_WORKER == 3
    assert conftest.pytest_xdist_auto_num_workers(None) == workers


@pytest.fixture
def threads_kept():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("cores, workers, threads", [(4, 2, 2), (5, 2, 2), (2, 8, 1)])
def test_a_worker_takes_its_share_of_the_cores(monkeypatch, threads_kept, cores, workers,
                                               threads):
    """Mutants: every core to each worker; no floor of one thread (0 when workers outnumber
    the cores); OMP_NUM_THREADS or torch's threads not set; the count read from the worker's
    name (gw0) rather than PYTEST_XDIST_WORKER_COUNT."""
    machine(monkeypatch, cores, 64)
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", str(workers))
    monkeypatch.setenv("OMP_NUM_THREADS", "99")
    torch.set_num_threads(3 if threads != 3 else 4)
    conftest._share_the_cores()
    assert os.environ["OMP_NUM_THREADS"] == str(threads)
    assert torch.get_num_threads() == threads


@pytest.mark.parametrize("count", [None, "1"])
def test_one_process_is_left_as_it_is(monkeypatch, threads_kept, count):
    """Mutant: a run of one process (no xdist, or -n 1) also set to every core."""
    machine(monkeypatch, 4, 64)
    if count is None:
        monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    else:
        monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", count)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    torch.set_num_threads(1)
    conftest._share_the_cores()
    assert "OMP_NUM_THREADS" not in os.environ and torch.get_num_threads() == 1
