"""A signal (Ctrl-C, SIGTERM) in an inference command that writes its results as it goes
(samhq-predict, samhq-concept, samhq-video, samhq-amg): one line counting what was written, each
file whole, and the shell's exit status for the signal, not a traceback. A signal before the
work (loading the model) is errors.exit_on_user_error's line."""

import sys
from pathlib import Path
from typing import NoReturn

from samhq_train.errors import interrupt_exit_status, interrupt_signal


def exit_interrupted(
    stop: KeyboardInterrupt,
    written: int,
    total: int,
    what: str,
    out: Path | str,
    again: str = "run again with --overwrite to replace them",
) -> NoReturn:
    """`interrupted (SIGINT): <written> of <total> <what> written to <out>; <again>` on stderr,
    exit 130 (143 for SIGTERM). stop: the KeyboardInterrupt (errors.Terminated for SIGTERM);
    what: the unit, e.g. "frames' masks"; again: how to go on from there."""
    print(f"\ninterrupted ({interrupt_signal(stop)}): {written} of {total} {what} written to "
          f"{out}; {again}", file=sys.stderr)
    sys.exit(interrupt_exit_status(stop))


__all__ = ["exit_interrupted"]
