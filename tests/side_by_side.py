"""Independent commands of one test module run side by side, each in its own process as before.

A command's process spends seconds importing torch and its neighbours on one core while the test
process only waits for it: on CI's two cores two such processes take about the time of one. Each
test still checks its own command's result, and a command that fails or times out fails only the
test that reads it (its exception is raised there)."""

import os
import subprocess
from concurrent.futures import Future, ThreadPoolExecutor

PROCESSES = max(2, min(4, os.cpu_count() or 2))


class SideBySide:
    """Starts `subprocess.run` calls at most PROCESSES at a time, in the order given; `result(key)`
    waits for one and returns its CompletedProcess (or raises what subprocess.run raised)."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(PROCESSES)
        self._runs: dict[object, Future] = {}
        self.folders: dict[object, object] = {}  # where a command writes, for its test's checks

    def start(self, key, args, **kwargs) -> None:
        """Queues `subprocess.run(args, **kwargs)`; it gets the environment of this call, not that
        of whichever test runs when its turn comes (a test may monkeypatch os.environ)."""
        assert key not in self._runs, key
        kwargs.setdefault("env", dict(os.environ))
        self._runs[key] = self._pool.submit(subprocess.run, args, **kwargs)

    def result(self, key) -> subprocess.CompletedProcess:
        return self._runs[key].result()

    def close(self) -> None:
        """Waits for what was started (a test that never read its result still ends it)."""
        self._pool.shutdown(wait=True)

    def __enter__(self) -> "SideBySide":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
