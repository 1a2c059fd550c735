"""The one user-facing error and the wrapper that turns it into an `error:` line and exit 2.

Every error a user can fix (a config value, a file, a data root, a prompt, an output folder)
derives from UserError and carries a message that names the key or file and says what to do.
A result that fails the check its command makes of it (an exported ONNX graph that onnxruntime
runs differently from torch: CheckFailedError) is also one line, with exit status 3, so that a
script tells it from a setup error. Anything else is a bug and keeps its traceback.

SIGINT (Ctrl-C) and SIGTERM anywhere in a command (loading a model, checking data, the work) are
one line too, `interrupted (SIGINT): <command> stopped`, with the shell's exit status for the
signal (130 / 143): exit_on_user_error turns SIGTERM into Terminated, a KeyboardInterrupt, so
that the code that handles Ctrl-C where results are written (counting what is on disk) handles
both.

A command's module is imported inside that wrapper too (command_entry: the installed commands,
cli/commands.py; run_as_main: `python -m <module>`, whose `if __name__ == "__main__"` guard comes
before its imports), so a signal while torch, Hydra and the model code load is that line as well.
This module imports nothing heavy (the standard library only; compat's release check is imported
by a command's main(), inside the wrapper).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import NoReturn, TypeVar

SETUP_ERROR_EXIT = 2
CHECK_FAILED_EXIT = 3

T = TypeVar("T")


class UserError(Exception):
    """A problem with what the user gave; the message says what to fix."""

    label = "error"
    exit_status = SETUP_ERROR_EXIT


class ConfigValueError(UserError):
    """A config key or value that cannot work (the wrong type or range, not a setting, a path that
    is not there); the message names the full key. Printed as `config error: ...`; the records'
    own checks (settings.SettingError), the config check's (ConfigError) and the fine-tuning runs'
    refusals are all of it."""

    label = "config error"


class SetupError(UserError, RuntimeError):
    """Bad configuration or input found before training starts; the message says what to fix."""


class ConfigError(ConfigValueError, SetupError):
    """A config value of the wrong type or range found by the checks before a run; the message
    names the full key. The records' own refusal (settings.SettingError) is one, so that it
    reaches the caller of the config check as it was raised."""


class CheckFailedError(UserError):
    """What a command made failed its own check after the work; the message names the file, what
    differs and what became of the file."""

    exit_status = CHECK_FAILED_EXIT


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command runs (exit_on_user_error holds the handler)."""


def interrupt_signal(stop: KeyboardInterrupt) -> str:
    """The name of the signal behind `stop`: SIGTERM for Terminated, else SIGINT."""
    return "SIGTERM" if isinstance(stop, Terminated) else "SIGINT"


def interrupt_exit_status(stop: KeyboardInterrupt) -> int:
    """The shell's exit status for the signal behind `stop` (130 SIGINT, 143 SIGTERM)."""
    return 128 + signal.Signals[interrupt_signal(stop)].value


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """SIGTERM raises Terminated in this process while inside (the main thread only, where
    Python handles signals); a forked child (a DataLoader worker) keeps the default: it ends."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pid = os.getpid()

    def on_sigterm(signum, frame) -> None:
        if os.getpid() != pid:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
            return
        raise Terminated

    previous = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def report_command_interrupted(stop: KeyboardInterrupt) -> None:
    """The one line of a command stopped by a signal no closer handler reported (one that
    writes results as it goes counts them itself: inference/interrupted.py). Once per DDP run
    (rank 0)."""
    if os.environ.get("RANK", "0") != "0":
        return
    command = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "the command"
    sys.stderr.write(f"\ninterrupted ({interrupt_signal(stop)}): {command} stopped\n")
    sys.stderr.flush()


def report(err: UserError) -> None:
    """Print a user error as one line on stderr, in one write: the lines of DDP processes
    stopping together do not interleave (print writes the text and its newline apart)."""
    sys.stderr.write(f"{err.label}: {err}\n")
    sys.stderr.flush()


def exit_on_user_error(
    main: Callable[..., T], reporter: Callable[[UserError], None] = report
) -> Callable[..., T]:
    """Wrap a command's main: a UserError becomes one stderr line (`reporter`; the commands that
    run as DDP processes pass distributed.report_once) and its exit status (2; a failed check
    of the result 3).

    Called with arguments (tests, scripts) it returns main's result; called without any, as the
    installed command calls it (`sys.exit(main())`), a result that is not an exit status gives
    None: sys.exit would print a returned record and exit with status 1.

    SIGINT / SIGTERM (Terminated) that reach it: one line (report_command_interrupted), exit
    130 / 143."""

    @functools.wraps(main)
    def wrapped(*args, **kwargs):
        try:
            with sigterm_raises():
                result = main(*args, **kwargs)
        except UserError as err:
            reporter(err)
            sys.exit(err.exit_status)
        except KeyboardInterrupt as stop:
            report_command_interrupted(stop)
            sys.exit(interrupt_exit_status(stop))
        as_command = not args and not kwargs
        return None if as_command and not isinstance(result, int) else result

    return wrapped


def command_entry(module: str) -> Callable[[], int | None]:
    """The installed command that runs `module`'s main(), `module` imported inside
    exit_on_user_error."""

    def main() -> int | None:
        from samhq_train.compat import too_old_release

        too_old = too_old_release()  # before the import, which an old torch may break deep inside
        if too_old is not None:
            raise UserError(too_old)
        return importlib.import_module(module).main()

    main.__doc__ = f"{module}.main(), imported once a signal is one line."
    return exit_on_user_error(main)


def run_as_main(module: str) -> NoReturn:
    """`python -m <module>`: called by the module's `if __name__ == "__main__"`, which comes
    before its imports; the module is imported again under its own name and its main() run as
    the installed command runs it (a signal while it imports is the one line); exits with its
    status."""
    sys.exit(command_entry(module)())
