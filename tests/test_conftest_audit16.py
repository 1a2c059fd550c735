"""The test order of a parallel run (tests/conftest.py's pytest_collection_modifyitems; audit
16): the files with a slow test first, stable otherwise; a run of one process keeps the
collection order."""

from pathlib import Path

import pytest

from tests import conftest


class Item:
    def __init__(self, path: str, slow: bool = False):
        self.path, self.slow = Path(path), slow

    def get_closest_marker(self, name):
        return object() if name == "slow" and self.slow else None


def collected():
    return [Item("z.py"), Item("b.py"), Item("b.py", slow=True), Item("c.py"), Item("a.py"),
            Item("a.py", slow=True), Item("a.py")]


@pytest.mark.parametrize("count", ["2", "3"])
def test_a_parallel_run_starts_with_the_slow_files_in_their_order(monkeypatch, count):
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", count)
    items = collected()
    conftest.pytest_collection_modifyitems(None, items)
    order = [(item.path.name, item.slow) for item in items]
    assert order == [("b.py", False), ("b.py", True), ("a.py", False), ("a.py", True),
                     ("a.py", False), ("z.py", False), ("c.py", False)]


@pytest.mark.parametrize("count", [None, "1"])
def test_one_process_keeps_the_collection_order(monkeypatch, count):
    if count is None:
        monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    else:
        monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", count)
    items = collected()
    before = list(items)
    conftest.pytest_collection_modifyitems(None, items)
    assert items == before
