"""The one user-facing error and the wrapper that turns it into an `error:` line and exit 2.

Every error a user can fix (a config value, a file, a data root, a prompt, an output folder)
derives from UserError and carries a message that names the key or file and says what to do.
A result that fails the check its command makes of it (an exported ONNX graph that onnxruntime
runs differently from torch: CheckFailedError) is also one line, with exit status 3, so that a
script tells it from a setup error. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TypeVar

SETUP_ERROR_EXIT = 2
CHECK_FAILED_EXIT = 3

T = TypeVar("T")


class UserError(Exception):
    """A problem with what the user gave; the message says what to fix."""

    label = "error"
    exit_status = SETUP_ERROR_EXIT


class CheckFailedError(UserError):
    """What a command made failed its own check after the work; the message names the file, what
    differs and what became of the file."""

    exit_status = CHECK_FAILED_EXIT


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
    None: sys.exit would print a returned record and exit with status 1."""

    @functools.wraps(main)
    def wrapped(*args, **kwargs):
        try:
            result = main(*args, **kwargs)
        except UserError as err:
            reporter(err)
            sys.exit(err.exit_status)
        as_command = not args and not kwargs
        return None if as_command and not isinstance(result, int) else result

    return wrapped
