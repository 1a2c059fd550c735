"""Fixtures for the evaluation tests."""

import pytest


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("demo")
