import logging
import os

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra

from samhq_train import image_header
from tests.reference import random_tiny_model

GIB_PER_WORKER = 3  # a worker's peak (the full-size parity tests) with room for its subprocesses


def _cores() -> int:
    return len(os.sched_getaffinity(0))


@pytest.hookimpl(tryfirst=True)  # before xdist's own, which turns -n auto into a number
def pytest_cmdline_main(config):
    """A plain `pytest` runs in parallel: `-n auto --dist loadfile` unless the command line says
    otherwise (`-n 0`, `-p no:xdist`: one process). Set here, not in pyproject's addopts, so
    that `-p no:xdist` runs without them. --dist loadfile keeps each file on one worker (its
    module fixtures built once); xdist would hand the files out largest test count first, which
    leaves the one- to six-test DDP files to the end: a file's test count says little about its
    time. They go in collection order instead, the slow files first
    (pytest_collection_modifyitems)."""
    if not config.pluginmanager.hasplugin("xdist") or hasattr(config, "workerinput"):
        return
    if config.option.numprocesses is None:
        config.option.numprocesses = "auto"
    if config.option.dist == "no":
        config.option.dist = "loadfile"
    config.option.loadscopereorder = False


def pytest_collection_modifyitems(config, items):
    """The files with a slow test (mark `slow`: DDP launches, long subprocesses) go first, so
    that the parallel run does not end on one worker finishing a long file while the others
    wait (longest first is the classic makespan heuristic). Stable: the files keep their order
    otherwise, and their tests theirs; a run in one process keeps the collection order."""
    if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
        slow_files = {item.path for item in items if item.get_closest_marker("slow")}
        items.sort(key=lambda item: item.path not in slow_files)


@pytest.hookimpl(optionalhook=True)  # pytest -p no:xdist: no such hook
def pytest_xdist_auto_num_workers(config):
    """`-n auto` (pytest_cmdline_main): a worker per core, as many as the memory holds."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return max(1, min(_cores(), memory // (GIB_PER_WORKER * 2**30)))


def _share_the_cores() -> None:
    """In a worker of a parallel run, torch's threads (and those of the commands the tests start,
    through OMP_NUM_THREADS) are the worker's share of the cores: more threads than cores make
    torch's OpenMP threads wait on each other for far longer than the work takes."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers > 1:
        threads = max(1, _cores() // workers)
        os.environ["OMP_NUM_THREADS"] = str(threads)
        torch.set_num_threads(threads)


_share_the_cores()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Every test, before any of its fixtures (module-scoped ones included), starts with no
    global Hydra: importing Meta's sam2 (at collection or inside a test) initialises Hydra
    globally with sam2's configs, and Hydra's initialize_config_dir / initialize_config_module
    then refuse with 'GlobalHydra is already initialized'. Tests that build Meta's models
    initialise its configs in a context (initialize_config_module("sam2", ...))."""
    GlobalHydra.instance().clear()


@pytest.fixture(autouse=True)
def _deterministic_torch():
    torch.manual_seed(0)
    yield


@pytest.fixture(autouse=True)
def _default_pixel_limit(monkeypatch):
    """The image pixel limit is process-wide (a command sets it once, for its loader workers
    too): every test starts from the default and the default wording."""
    monkeypatch.delenv(image_header.MAX_PIXELS_ENV, raising=False)
    monkeypatch.setattr(image_header, "_limit_setting", image_header.MAX_PIXELS_ENV)
    image_header._follow_in_pil()


@pytest.fixture(autouse=True)
def _root_logging_restored():
    """A command run in-process (Hydra's job logging) gives the root logger handlers on the
    streams of that test's capture, closed after it: later tests' log records would each print a
    '--- Logging error ---' traceback. Every test ends with the root logger as it found it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def tiny_model():
    """The tiny SAM-HQ with every tensor random (seeded)."""
    return random_tiny_model(seed=0)
