"""A Python process that imports the libraries every command imports first (torch, Hydra: ~3
CPU-s) once, then forks a child per script: each child is a fresh process without their import
time. Used by the tests that run commands as real processes (tests/cli/test_startup_imports.py,
tests/cli/test_interrupted_commands.py)."""

import json
import subprocess
import sys
from pathlib import Path

from tests.training.helpers import ROOT

# reads one json request a line (script, cwd, out, err): forks a child that runs the script in
# cwd (also its HOME) with stdout / stderr to the files and exits as `python -c script` does (a
# SystemExit or an exception propagates out of this loop: atexit, traceback, status); replies the
# child's pid, then, once it ended, its exit status
SERVER = """
import json, os, signal, sys
for name in {preload!r}:
    __import__(name)
print(json.dumps([m for m in {watch!r} if m in sys.modules]), flush=True)
for line in sys.stdin:
    request = json.loads(line)
    pid = os.fork()
    if pid == 0:
        signal.alarm(300)
        os.chdir(request["cwd"])
        os.environ["HOME"] = request["cwd"]
        os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
        sys.stdin = open(0, closefd=False)
        for fd, path in ((1, request["out"]), (2, request["err"])):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
        exec(request["script"], {{"__name__": "__main__"}})
        sys.exit(0)
    print(pid, flush=True)
    print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), flush=True)
"""


class ForkServer:
    """The server process, started in `folder` having imported `preload`; `preloaded` lists
    those of `watch` that importing them imported."""

    def __init__(self, folder: Path, preload: tuple[str, ...], watch: tuple[str, ...] = ()):
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(folder)}
        code = SERVER.format(preload=preload, watch=watch)
        self.process = subprocess.Popen(
            [sys.executable, "-c", code], cwd=folder, env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )
        self.preloaded = json.loads(self.process.stdout.readline())

    def start(self, script: str, cwd: Path, out: Path, err: Path) -> int:
        """Run `script` in a child (cwd, stdout and stderr to the files); the child's pid."""
        request = {"script": script, "cwd": str(cwd), "out": str(out), "err": str(err)}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return int(self.process.stdout.readline())

    def wait(self) -> int:
        """The exit status of the child started last, once it ended."""
        return int(self.process.stdout.readline())

    def run(self, script: str, cwd: Path, out: Path, err: Path) -> int:
        """Run `script` in a child as start() does; its exit status."""
        self.start(script, cwd, out, err)
        return self.wait()

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)
