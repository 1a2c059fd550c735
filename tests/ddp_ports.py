"""A port of its own for each DDP launch of the tests.

Lightning's launch (trainer=ddp_sim) takes MASTER_PORT from the environment when it is there and
otherwise asks the system for a free one; a MASTER_PORT left in the test process's environment
(by anything that set up a process group in it) would send every later launch to the same port,
where two launches at once meet: a rank of one joins the other's store and waits forever in
init_process_group. So each launch gets MASTER_ADDR / MASTER_PORT of its own: a port the system
calls free (bound to port 0), and never one this test process handed out before. run_launch runs
one such launch and, should it hang, kills every process it started."""

import os
import signal
import socket
import subprocess
import threading

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


def run_launch(command: list[str], *, timeout: float, ddp: bool = True,
               **kwargs) -> subprocess.CompletedProcess:
    """subprocess.run(command, capture_output=True, text=True, ...) for a launch that may start
    processes of its own (Lightning's other ranks): with a MASTER_PORT of its own (ddp) and in a
    session of its own, whose every process is killed when `timeout` passes (then
    TimeoutExpired), so that no rank of a launch that hung runs on beside the next tests."""
    env = ddp_env(kwargs.pop("env", None)) if ddp else kwargs.pop("env", None)
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=env, start_new_session=True, **kwargs) as process:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)
