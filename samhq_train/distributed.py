"""The process group as data loading, checkpoints and the embedding cache see it: this process's
global rank, the process count and one object gathered from every process (all plain
single-process answers without DDP), `end_process_group` when a run ends, `stop_together` for a
step that every process takes and any of them can fail, `report_once`: a setup error that
every process hits is said once, by rank 0, `leave_after_launcher`: a run's exit status is rank
0's, and `seed_this_process` for draws that differ per process."""

import functools
import os
import random
import select
import sys
import time
import traceback
from collections.abc import Callable
from datetime import timedelta
from typing import NoReturn, TypeVar

import numpy as np
import torch
import torch.distributed as dist

from samhq_train.errors import UserError, exit_on_user_error, report

T = TypeVar("T")


class RankStopped(UserError):
    """Another process of a DDP run failed at a step all take together: this one stops with it."""


def _initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def seed_this_process(seed: int) -> None:
    """Seed Python's, numpy's and torch's global streams (dropout, prompt draws) of this process
    alone. Unlike lightning's seed_everything it leaves PL_GLOBAL_SEED be: Lightning seeds every
    process's DistributedSampler from it, and the processes' shares are disjoint only while their
    samplers shuffle alike."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def global_rank() -> int:
    """This process's global rank; 0 without an initialised process group."""
    return dist.get_rank() if _initialized() else 0


def world_size() -> int:
    """The number of processes of the run; 1 without an initialised process group."""
    return dist.get_world_size() if _initialized() else 1


def gather_from_ranks(obj) -> list:
    """`obj` of every process (index = global rank); a one-element list without DDP."""
    if not _initialized() or dist.get_world_size() == 1:
        return [obj]
    gathered: list = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def end_process_group() -> None:
    """At the end of a run that made a process group (Lightning leaves it): destroy it. A gloo
    group left to the interpreter's exit can abort a finished run (SIGABRT, 'terminate called
    without an active exception': its worker threads still hold work objects while Python shuts
    down). No barrier first: another process may have stopped with an error (a failed export)
    and would never arrive."""
    if _initialized():
        dist.destroy_process_group()


def stop_together(step: Callable[[], T]) -> T:
    """Run `step` here, then learn how it went in every process (one small all-gather, which
    also waits for all of them). When it failed anywhere, every process stops at this point: a
    failing one with its own error, the others with RankStopped naming the first failing rank
    and its reason (one line each, exit 2), instead of waiting in the next collective until the
    process group breaks with a traceback. Without DDP: step()."""
    failure, result = None, None
    try:
        result = step()
    except Exception as err:  # told to every process below, then raised here unchanged
        failure = err
    reasons = gather_from_ranks(None if failure is None else _reason(failure))
    if failure is not None:
        raise failure
    failed = [(rank, why) for rank, why in enumerate(reasons) if why is not None]
    if failed:
        rank, why = failed[0]
        raise RankStopped(f"rank {rank} stopped: {why}")
    return result


def _reason(err: Exception) -> str:
    if isinstance(err, UserError):
        return str(err)
    return f"{type(err).__name__}: {err} (a bug: see its traceback)"


# how long a rank waits for rank 0's words (and rank 0 for theirs being read) before it speaks
REPORT_WAIT_S = 10.0
_SAID = "samhq_train/setup_error/{}"
_HEARD = "samhq_train/setup_error_heard/{}"


def says_setup_error(rank: int, message: str, rank_zero_message: str | None) -> bool:
    """Whether this process prints its setup error: rank 0 always, another rank only when rank 0
    did not stop with the same words (None: it did not stop, or not in time), so that a problem
    of one rank alone (a file only it cannot read) is still said, by that rank."""
    return rank == 0 or message != rank_zero_message


def _shared_store() -> tuple[dist.Store, int, int] | None:
    """(store, global rank, process count) that every process of this run reaches: the process
    group's or, before Lightning makes it, torchrun's agent store; None for one process or
    without a store to ask (srun, Lightning's own launch, before the process group)."""
    if _initialized():
        if dist.get_world_size() == 1:
            return None
        return dist.distributed_c10d._get_default_store(), dist.get_rank(), dist.get_world_size()
    env = os.environ
    world = int(env.get("WORLD_SIZE", "1"))
    if world == 1 or env.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return None
    store = dist.TCPStore(
        env["MASTER_ADDR"], int(env["MASTER_PORT"]), is_master=False,
        timeout=timedelta(seconds=REPORT_WAIT_S),
    )
    return store, int(env["RANK"]), world


def report_once(err: UserError) -> None:
    """errors.report for the processes of a DDP run: when every process stops with the same
    words (a bad data.root, a config value), only rank 0 prints them and the others exit with
    the same status silently; a rank whose words differ from rank 0's (or that stops alone)
    prints its own. The ranks compare words through the run's key-value store; without one
    (see _shared_store) every process prints, as does a rank that cannot reach it."""
    try:
        shared = _shared_store()
    except Exception:  # no store within REPORT_WAIT_S: say it here rather than not at all
        shared = None
    if shared is None:
        report(err)
        return
    store, rank, world = shared
    wait = timedelta(seconds=REPORT_WAIT_S)
    if rank == 0:
        report(err)
        try:
            store.set(_SAID.format(0), str(err))
            if _initialized():  # the store may live in this process: keep it until read
                store.wait([_HEARD.format(r) for r in range(1, world)], wait)
        except Exception:  # a rank that never asks (it did not stop): its store wait ends
            pass
        return
    try:
        store.wait([_SAID.format(0)], wait)
        rank_zero = store.get(_SAID.format(0)).decode()
        store.set(_HEARD.format(rank), "")
    except Exception:  # rank 0 did not stop (in time): this problem is this rank's to say
        rank_zero = None
    if says_setup_error(rank, str(err), rank_zero):
        report(err)


# the process that Lightning's own DDP launch runs in (rank 0, which starts the others with a
# copy of its environment); set by exit_on_setup_error in a process that torchrun / srun did not
# start (no LOCAL_RANK)
LAUNCHER_PID = "SAMHQ_TRAIN_LAUNCHER_PID"
# how long a further process that stops waits for rank 0 to leave first (leave_after_launcher)
LAUNCHER_EXIT_WAIT_S = 20.0


def _process_ended(pid: int, timeout: float) -> bool:
    """Whether process `pid` ends within `timeout` seconds (a pidfd: ended, not yet reaped)."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    except (AttributeError, OSError):  # no pidfds (not Linux): look every 0.1 s
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.1)
        return False
    try:
        return bool(select.select([pidfd], [], [], timeout)[0])
    finally:
        os.close(pidfd)


def _launcher_to_outlive() -> int | None:
    """The pid of rank 0 when this is a further process of Lightning's own DDP launch (see
    leave_after_launcher), else None."""
    env = os.environ
    launcher = env.get(LAUNCHER_PID, "")
    if not launcher.isdigit() or env.get("LOCAL_RANK", "0") == "0":
        return None
    if "TORCHELASTIC_RUN_ID" in env or int(launcher) == os.getpid():  # torchrun's
        return None
    return int(launcher)


def leave_after_launcher() -> None:
    """In a further process of Lightning's own DDP launch that stops with an error: wait (up to
    LAUNCHER_EXIT_WAIT_S) until rank 0 has left. A thread of rank 0 looks at the others every
    5 s and, once one has exited non-zero, SIGKILLs all of them and rank 0 itself: a rank that
    left first would make the run's exit status 137 whenever rank 0 is still on its way out (its
    line, its teardown). Leaving after rank 0, the status is rank 0's own. torchrun and srun
    start every process themselves (no such thread, no LAUNCHER_PID of this kind): no wait."""
    launcher = _launcher_to_outlive()
    if launcher is not None:
        _process_ended(launcher, LAUNCHER_EXIT_WAIT_S)


def _never_to_hear() -> None:
    """Mark this process's words of report_once as heard in the process group's store, so that
    rank 0, stopping with its own line, does not wait REPORT_WAIT_S for a process that dies of a
    bug and never asks. Only a store already connected; on an error path: nothing raised."""
    if not _initialized():
        return
    try:
        shared = _shared_store()
        if shared is not None:
            store, rank, _ = shared
            store.set(_HEARD.format(rank), "")
    except Exception:  # rank 0 and its store already gone: it waits for nobody
        pass


def _leave_after_a_bug() -> NoReturn:
    """A further process of Lightning's launch that dies of a bug (an exception our wrapper
    does not turn into a line; being handled): its traceback now, as Python would print it,
    then the wait of leave_after_launcher, then the status of an uncaught exception (1). Rank 0,
    told through stop_together, is then leaving with its own line (report_once), which it need
    not keep for this process: _never_to_hear."""
    _never_to_hear()
    traceback.print_exc()
    sys.stderr.flush()
    leave_after_launcher()
    sys.exit(1)


def exit_on_setup_error(main: Callable[..., T]) -> Callable[..., T]:
    """errors.exit_on_user_error for commands that run as DDP processes (report_once); a further
    process of Lightning's own launch that stops, with an error line or a bug's traceback, leaves
    after rank 0 (leave_after_launcher). The LAUNCHER_PID this process sets for the processes
    it starts is taken back when it returns (an in-process run's environment as it was)."""
    wrapped = exit_on_user_error(main, report_once)

    @functools.wraps(main)
    def leaving_after_launcher(*args, **kwargs):
        previous = os.environ.get(LAUNCHER_PID)
        if "LOCAL_RANK" not in os.environ:  # this process would be rank 0 of Lightning's launch
            os.environ[LAUNCHER_PID] = str(os.getpid())
        try:
            return wrapped(*args, **kwargs)
        except SystemExit as leaving:
            if leaving.code not in (0, None):
                leave_after_launcher()
            raise
        except Exception:
            if _launcher_to_outlive() is None:
                raise
            _leave_after_a_bug()
        finally:
            if previous is None:
                os.environ.pop(LAUNCHER_PID, None)
            else:
                os.environ[LAUNCHER_PID] = previous

    return leaving_after_launcher
