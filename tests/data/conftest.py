"""Fixtures for the data tests."""

from pathlib import Path

import pytest

from samhq_train.data import ensure_demo_data


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory) -> Path:
    return ensure_demo_data(
        tmp_path_factory.mktemp("demo") / "demo",
        num_train=8,
        num_val=4,
        height=48,
        width=64,
        seed=0,
    )
