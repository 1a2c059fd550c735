"""Mutation audit 19: errors.exit_on_user_error's signals, in process (no command launched):
SIGTERM inside raises Terminated and is `interrupted (SIGTERM): <command> stopped`, exit 143;
Ctrl-C is SIGINT's line, exit 130; one line per DDP run (rank 0); the handler before is put
back; a forked child (a DataLoader worker) ends by SIGTERM as it would without the handler."""

import os
import signal
import sys

import pytest

from samhq_train.errors import Terminated, exit_on_user_error, sigterm_raises


class _Escaped(Exception):
    """SIGTERM reached the handler outside exit_on_user_error."""


def _escaped(signum, frame):
    raise _Escaped


def _stopped(raise_it, monkeypatch, capsys, rank="0") -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["/bin/samhq-thing", "x=1"])
    monkeypatch.setenv("RANK", rank)
    outside = signal.signal(signal.SIGTERM, _escaped)  # not pytest's own end, if it gets out
    try:
        exit_on_user_error(raise_it)()
    except SystemExit as stop:
        return stop.code, capsys.readouterr().err
    except (KeyboardInterrupt, _Escaped) as escaped:
        pytest.fail(f"the signal got out of exit_on_user_error: {escaped!r}")
    finally:
        signal.signal(signal.SIGTERM, outside)
    pytest.fail("exit_on_user_error returned")


def _sigterm():
    os.kill(os.getpid(), signal.SIGTERM)
    raise AssertionError("SIGTERM did not stop the command")


def _ctrl_c():
    raise KeyboardInterrupt


def test_sigterm_is_one_line_and_exit_143(monkeypatch, capsys):
    code, err = _stopped(_sigterm, monkeypatch, capsys)
    assert (code, err) == (143, "\ninterrupted (SIGTERM): samhq-thing stopped\n")


def test_ctrl_c_is_one_line_and_exit_130(monkeypatch, capsys):
    code, err = _stopped(_ctrl_c, monkeypatch, capsys)
    assert (code, err) == (130, "\ninterrupted (SIGINT): samhq-thing stopped\n")


def test_other_ranks_of_a_ddp_run_say_nothing(monkeypatch, capsys):
    assert _stopped(_sigterm, monkeypatch, capsys, rank="1") == (143, "")


def test_the_handler_before_is_put_back():
    def before(signum, frame):
        pass

    previous = signal.signal(signal.SIGTERM, before)
    try:
        with sigterm_raises():
            assert signal.getsignal(signal.SIGTERM) is not before
        assert signal.getsignal(signal.SIGTERM) is before
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_forked_child_ends_by_sigterm():
    with sigterm_raises():
        child = os.fork()
        if child == 0:  # a DataLoader worker: SIGTERM must end it, not raise in its copy
            try:
                os.kill(os.getpid(), signal.SIGTERM)
                os._exit(0)
            except BaseException:
                os._exit(5)
            finally:
                os._exit(6)
        _, status = os.waitpid(child, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM


def test_terminated_is_a_keyboard_interrupt():
    # the code that counts the results on disk at Ctrl-C handles SIGTERM alike
    assert issubclass(Terminated, KeyboardInterrupt)
