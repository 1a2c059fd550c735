"""DDP launches of the tests: a port and a session of their own.

Lightning's launch (trainer=ddp_sim) takes MASTER_PORT from the environment when it is there and
otherwise asks the system for a free one; a MASTER_PORT left in the test process's environment
(by anything that set up a process group in it) would send every later launch to the same port,
where two launches at once meet: a rank of one joins the other's store and waits forever in
init_process_group. So each launch gets MASTER_ADDR / MASTER_PORT of its own: a port the system
calls free (bound to port 0), and never one this test process handed out before. A launch runs in a
session of its own, so that one that hangs is ended with every process it started. The processes of
a test that runs them from Python (multiprocessing, torch.multiprocessing) fork from a fork server
(fork_server)."""

import multiprocessing
import os
import signal
import socket
import subprocess
import threading
from multiprocessing import forkserver

_HANDED_OUT: set[int] = set()
_LOCK = threading.Lock()  # launches may start from the threads of tests/side_by_side.py


def free_port() -> int:
    """A localhost TCP port that is free now and was not returned before in this process."""
    with _LOCK:
        while True:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            if port not in _HANDED_OUT:
                _HANDED_OUT.add(port)
                return port


def ddp_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """`env` (default: this process's environment) with MASTER_ADDR and a MASTER_PORT of its own,
    for one DDP launch (a train.py run with trainer=ddp_sim and its ranks)."""
    launch = dict(os.environ if env is None else env)
    launch["MASTER_ADDR"] = "127.0.0.1"
    launch["MASTER_PORT"] = str(free_port())
    return launch


def fork_server(module: str):
    """multiprocessing's forkserver context, its server running: the processes of a test fork
    from a clean process that imported torch and `module` (the processes' own, preloaded where
    this call starts the server) once, where each spawned process imports them anew; a fork of
    the test process itself (its threads) could hang. The server is this process's from then on
    and keeps the environment it started with: start it before a test patches os.environ (a
    module fixture), or hand the processes the environment."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["torch", module])
    forkserver.ensure_running()
    return ctx


def start_launch(command: list[str], *, ddp: bool = True, **kwargs) -> subprocess.Popen:
    """The launch started in a session of its own, its output captured as text; ddp: with a
    MASTER_PORT of its own."""
    env = kwargs.pop("env", None)
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=ddp_env(env) if ddp else env, start_new_session=True, **kwargs)


def finish_launch(process: subprocess.Popen, timeout: float) -> tuple[str, str]:
    """(stdout, stderr) of a launch once it ends; when `timeout` passes first, every process it
    started (Lightning's other ranks too) is killed and TimeoutExpired raised, so that no rank of
    a launch that hung runs on beside the next tests."""
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise


def run_launch(command: list[str], *, timeout: float, ddp: bool = True,
               **kwargs) -> subprocess.CompletedProcess:
    """subprocess.run(command, capture_output=True, text=True, ...) for a launch (start_launch,
    finish_launch)."""
    process = start_launch(command, ddp=ddp, **kwargs)
    out, err = finish_launch(process, timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def stop_lines(process: subprocess.Popen, timeout: float) -> list[str]:
    """The `error:` lines of a DDP launch that must stop with exit 2 and no traceback: the failing
    process's own first, then the others' (`error: rank N stopped: ...`)."""
    _, err = finish_launch(process, timeout)
    assert process.returncode == 2, err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    return sorted(lines, key=lambda ln: ln.startswith("error: rank "))
