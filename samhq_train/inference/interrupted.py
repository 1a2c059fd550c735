"""Ctrl-C in an inference command that writes its results as it goes (samhq-predict,
samhq-concept, samhq-video): one line counting what was written, each file whole, and the shell's
exit status for SIGINT, not a traceback."""

import sys
from pathlib import Path
from typing import NoReturn

INTERRUPTED_EXIT = 130  # 128 + SIGINT, as the shell reports a Ctrl-C


def exit_interrupted(written: int, total: int, what: str, out: Path | str) -> NoReturn:
    """`interrupted: <written> of <total> <what> written to <out>; run again with --overwrite to
    replace them` on stderr, exit 130. what: the unit, e.g. "frames' masks"."""
    print(f"interrupted: {written} of {total} {what} written to {out}; run again with "
          "--overwrite to replace them", file=sys.stderr)
    sys.exit(INTERRUPTED_EXIT)


__all__ = ["INTERRUPTED_EXIT", "exit_interrupted"]
