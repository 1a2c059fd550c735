"""Fixtures for the training tests."""

import signal

import pytest


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("demo_data")


@pytest.fixture
def keep_handlers():
    """The SIGINT / SIGTERM handlers before the test (its value), put back after it."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield handlers
    for sig, handler in handlers.items():
        signal.signal(sig, handler)
