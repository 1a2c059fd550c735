"""DDP launches of the tests: a port and a session of their own.

Lightning's launch (trainer=ddp_sim) takes MASTER_PORT from the environment when it is there and
otherwise asks the system for a free one; a MASTER_PORT left in the test process's environment
(by anything that set up a process group in it) would send every later launch to the same port,
where two launches at once meet: a rank of one joins the other's store and waits forever in
init_process_group. So each launch gets MASTER_ADDR / MASTER_PORT of its own: a port the system
calls free (bound to port 0), and never one this test process handed out before. A launch runs in a
session of its own, so that one that hangs is ended with every process it started. The processes of
a test that runs them from Python (multiprocessing, torch.multiprocessing) fork from a fork server
(fork_server).

A launch of a Python script (`python train.py ...`, a test's driver script) forks its processes
from that fork server too (ScriptLaunch): the first one, and each further one Lightning's DDP
launch starts (`python script` again, with the command, environment and folder Lightning gives it:
_ForkedRank). Importing torch, Lightning, Hydra and samhq_train (~6-7 CPU-s a process, most of a
small run's time) is paid once per test process, not once per process of every launch. Each
process then runs the script as `python script` would (its arguments, environment, folder,
__main__, exit status, atexit, a traceback on stderr), in a session of its own; it differs from a
fresh interpreter only in finding those modules imported (their import-time state: the fork
server's environment, which is the test process's at its start)."""

import atexit
import contextlib
import multiprocessing
import os
import runpy
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import types
from multiprocessing import connection, forkserver

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


# what every launched script imports first (train.py, the drivers): preloaded by the fork server
LAUNCH_PRELOAD = ["torch", "lightning", "hydra", "samhq_train.train"]


def fork_server(module: str):
    """multiprocessing's forkserver context, its server running: the processes of a test fork
    from a clean process that imported torch and `module` (the processes' own, preloaded where
    this call starts the server; also what the launches import, LAUNCH_PRELOAD) once, where each
    spawned process imports them anew; a fork of the test process itself (its threads) could
    hang. The server is this process's from then on and keeps the environment it started with:
    start it before a test patches os.environ (a module fixture), or hand the processes the
    environment."""
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([*LAUNCH_PRELOAD, module])
    forkserver.ensure_running()
    return ctx


def _exit_status(error: SystemExit) -> int:
    """The exit status of `python script` that raised `error` out (Python's own rules)."""
    if error.code is None:
        return 0
    if isinstance(error.code, int):
        return error.code
    print(error.code, file=sys.stderr)
    return 1


def _run_script(script: str, argv: list[str], env: dict[str, str], cwd: str, out, err,
                launch: dict) -> None:
    """In a process forked from the fork server: `python script argv[1:]` run in `cwd` with
    `env`, stdout / stderr to the pipes `out` / `err` (Connections), stdin empty, in a session of
    its own (its pid appended to launch["pids"], a file); ends as the interpreter ends (atexit
    handlers, exit status, an uncaught exception's traceback). The further processes Lightning's
    DDP launch starts fork from the same server (_ForkedRank)."""
    os.setsid()
    with open(launch["pids"], "a") as pids:
        pids.write(f"{os.getpid()}\n")
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    null = os.open(os.devnull, os.O_RDONLY)
    for fd, source in ((0, null), (1, out.fileno()), (2, err.fileno())):
        os.dup2(source, fd)
    os.close(null)
    out.close()
    err.close()
    sys.stdin = open(0, closefd=False)
    sys.stdout = open(1, "w", closefd=False)
    sys.stderr = open(2, "w", closefd=False, buffering=1)
    sys.argv = list(argv)
    sys.path[0] = os.path.dirname(os.path.abspath(script))  # as `python script` sets it
    _fork_lightnings_processes(launch)
    status = 0
    try:
        runpy.run_path(script, run_name="__main__")
    except SystemExit as error:
        status = _exit_status(error)
    except BaseException:  # noqa: BLE001 - the interpreter's report of an uncaught exception
        sys.excepthook(*sys.exc_info())
        status = 1
    try:
        threading._shutdown()
        atexit._run_exitfuncs()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)


def _fork_lightnings_processes(launch: dict) -> None:
    """Lightning's DDP launch (its subprocess script launcher) starts each further process of
    the run from the fork server this process came from, as `python script ...` with the
    command, environment and folder it gives (_ForkedRank), where it would start the script
    anew."""
    from lightning.pytorch.strategies.launchers import subprocess_script

    server = forkserver._forkserver
    server._forkserver_address = launch["server"]  # the fds came with this process
    server.ensure_running = lambda: None  # that server: not this process's child

    def popen(command, env=None, cwd=None, **kwargs):
        if kwargs or not _is_script_launch(command):
            return subprocess.Popen(command, env=env, cwd=cwd, **kwargs)
        return _ForkedRank(command, cwd, dict(os.environ if env is None else env), launch)

    subprocess_script.subprocess = types.SimpleNamespace(**{**vars(subprocess), "Popen": popen})


class _ForkedRank:
    """A further process of a DDP launch, forked from the fork server with this process's
    stdout and stderr: the subprocess.Popen that Lightning's launcher watches and signals (pid,
    returncode, poll, wait, send_signal, kill, terminate)."""

    def __init__(self, command: list[str], cwd, env: dict[str, str], launch: dict) -> None:
        cwd = str(cwd or os.getcwd())
        streams = [connection.Connection(os.dup(fd), readable=False) for fd in (1, 2)]
        self._process = multiprocessing.get_context("forkserver").Process(
            target=_run_script,
            args=(os.path.join(cwd, command[1]), command[1:], env, cwd, *streams, launch))
        self._process.start()
        # not joined when this process exits (multiprocessing's atexit joins its children), as a
        # subprocess.Popen's child is not: rank 0 may leave before the others
        multiprocessing.process._children.discard(self._process)
        for stream in streams:
            stream.close()
        self.args, self.pid, self.returncode = command, self._process.pid, None

    def poll(self) -> int | None:
        self.returncode = self._process.exitcode
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self._process.join(timeout)
        if self.poll() is None:
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self.returncode

    def send_signal(self, signum: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class ScriptLaunch:
    """A script's launch forked from the fork server (start_launch), read as a subprocess.Popen
    with text output: pid (its session's id), args, returncode, communicate(timeout), which, as
    Popen's, returns once every process of the launch closed its stdout and stderr (Lightning's
    further processes write theirs there too) and the first one ended."""

    def __init__(self, command: list[str], cwd, env: dict[str, str]) -> None:
        self.args = command
        cwd = str(cwd or os.getcwd())
        ctx = fork_server(__name__)
        pids, self._pids = tempfile.mkstemp(prefix="launch-pids-")
        os.close(pids)
        launch = {"pids": self._pids, "server": forkserver._forkserver._forkserver_address}
        pipes = [os.pipe() for _ in range(2)]  # (reader, writer); writers go as Connections
        writers = [connection.Connection(w, readable=False) for _, w in pipes]
        self._process = ctx.Process(
            target=_run_script,
            args=(os.path.join(cwd, command[1]), command[1:], env, cwd, *writers, launch))
        self._process.start()
        self.pid = self._process.pid
        self.returncode: int | None = None
        self._texts: list[bytes] = [b"", b""]
        self._readers = []
        for writer in writers:
            writer.close()  # the launch's processes hold the only writers
        for index, (reader, _) in enumerate(pipes):
            thread = threading.Thread(target=self._read, args=(index, reader), daemon=True)
            thread.start()
            self._readers.append(thread)

    def _read(self, index: int, reader) -> None:
        with os.fdopen(reader, "rb") as stream:
            self._texts[index] = stream.read()

    def communicate(self, timeout: float | None = None) -> tuple[str, str]:
        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in self._readers:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        self._process.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        if self._process.exitcode is None or any(t.is_alive() for t in self._readers):
            raise subprocess.TimeoutExpired(self.args, timeout)
        self.returncode = self._process.exitcode
        out, err = (text.decode() for text in self._texts)
        return out, err

    def kill_all(self) -> None:
        """SIGKILL to every process of the launch (each forked one leads a session)."""
        with open(self._pids) as pids:
            for pid in pids.read().split():
                try:
                    os.killpg(int(pid), signal.SIGKILL)
                except ProcessLookupError:  # it ended
                    pass

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # also at interpreter exit
            os.unlink(self._pids)


def _is_script_launch(command: list[str]) -> bool:
    """`python script ...` (no interpreter options, no -m / -c)."""
    return len(command) > 1 and command[0] == sys.executable and not command[1].startswith("-")


def start_launch(command: list[str], *, ddp: bool = True, **kwargs):
    """The launch started in a session of its own, its output captured as text; ddp: with a
    MASTER_PORT of its own. `python script ...` forks from the fork server (ScriptLaunch),
    another command is a subprocess.Popen."""
    env = kwargs.pop("env", None)
    env = ddp_env(env) if ddp else dict(os.environ if env is None else env)
    if _is_script_launch(command) and set(kwargs) <= {"cwd"}:
        return ScriptLaunch(command, kwargs.get("cwd"), env)
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True, **kwargs)


def finish_launch(process: subprocess.Popen, timeout: float) -> tuple[str, str]:
    """(stdout, stderr) of a launch once it ends; when `timeout` passes first, every process it
    started (Lightning's other ranks too) is killed and TimeoutExpired raised, so that no rank of
    a launch that hung runs on beside the next tests."""
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        if isinstance(process, ScriptLaunch):
            process.kill_all()
        else:
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
