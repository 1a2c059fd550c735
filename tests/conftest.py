import logging

import pytest
import torch
from hydra.core.global_hydra import GlobalHydra

from samhq_train import imaging
from tests.reference import random_tiny_model


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
    monkeypatch.delenv(imaging.MAX_PIXELS_ENV, raising=False)
    monkeypatch.setattr(imaging, "_limit_setting", imaging.MAX_PIXELS_ENV)
    imaging._follow_in_pil()


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
