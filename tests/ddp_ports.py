"""A port of its own for each DDP launch of the tests.

Lightning's launch (trainer=ddp_sim) takes MASTER_PORT from the environment when it is there and
otherwise asks the system for a free one; a MASTER_PORT left in the test process's environment
(by anything that set up a process group in it) would send every later launch to the same port,
where two launches at once meet: a rank of one joins the other's store and waits forever in
init_process_group. So each launch gets MASTER_ADDR / MASTER_PORT of its own: a port the system
calls free (bound to port 0), and never one this test process handed out before."""

import os
import socket
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
