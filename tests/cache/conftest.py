"""Fixtures for the cache tests."""

from pathlib import Path

import pytest

from samhq_train.data import ensure_demo_data


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory) -> Path:
    return ensure_demo_data(
        tmp_path_factory.mktemp("demo") / "demo",
        num_train=4,
        num_val=3,
        height=96,
        width=128,
        seed=0,
    )
