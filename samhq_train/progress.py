"""Progress of long loops where people look: live bars in a terminal, plain lines in a log.

One decision for every loop of the project (`live()`: is stdout a terminal) and one line format
(`progress_line`). In a terminal a loop shows a tqdm bar; otherwise (nohup, SLURM, CI, `| tee`,
`> log`) it prints a plain line to stdout every SAMHQ_PROGRESS_INTERVAL seconds (environment
variable, default 30; 0: at every update) and one when it ends, e.g.

    embedding cache: 120/272 img (44%) | 1.8 img/s | elapsed 1m05s | ETA 1m24s

A loop with nothing to do prints nothing. Training and validation use the same format through
run/progress.py (a Lightning progress bar); the cache build, evaluation, batch prediction and
automatic mask generation use `Progress` / `track` below.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import time
from collections.abc import Iterable, Iterator, Sequence

from tqdm.auto import tqdm

INTERVAL_ENV = "SAMHQ_PROGRESS_INTERVAL"
DEFAULT_INTERVAL_S = 30.0

log = logging.getLogger(__name__)
_warned: set[str] = set()


def live() -> bool:
    """Whether progress is shown as live bars: stdout is a terminal."""
    try:
        return bool(sys.stdout and sys.stdout.isatty())
    except (AttributeError, ValueError):  # replaced or closed stdout
        return False


def interval_s() -> float:
    """Seconds between plain progress lines: SAMHQ_PROGRESS_INTERVAL, else 30. A value that is
    not a number of seconds >= 0 is reported once and replaced by the default (progress is never
    worth stopping a run for)."""
    text = os.environ.get(INTERVAL_ENV, "").strip()
    if not text:
        return DEFAULT_INTERVAL_S
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if math.isnan(value) or value < 0:
        if text not in _warned:
            _warned.add(text)
            log.warning(
                "%s=%s: not a number of seconds >= 0; using %g (e.g. %s=60)",
                INTERVAL_ENV, text, DEFAULT_INTERVAL_S, INTERVAL_ENV,
            )
        return DEFAULT_INTERVAL_S
    return value


def duration(seconds: float) -> str:
    """45s, 3m05s, 2h07m."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def rate(count: float, seconds: float, unit: str) -> str | None:
    """`12.3 img/s` (3 significant digits), or None before anything was timed."""
    if seconds <= 0 or count <= 0:
        return None
    return f"{count / seconds:.3g} {unit}/s"


def progress_line(
    what: str,
    where: str,
    *,
    elapsed: float,
    speed: str | None = None,
    extra: Sequence[str] = (),
    eta: float | None = None,
) -> str:
    """`<what>: <where> | <speed> | <extra>... | elapsed 1m05s | ETA 3m10s`, the one format of
    every plain progress line."""
    parts = [f"{what}: {where}", *([speed] if speed else []), *extra]
    parts.append(f"elapsed {duration(elapsed)}")
    if eta is not None and math.isfinite(eta):
        parts.append(f"ETA {duration(eta)}")
    return " | ".join(parts)


def count_text(done: int, total: int | None, unit: str) -> str:
    """`120/272 img (44%)`, or `120 img` when the total is unknown."""
    if not total:
        return f"{done} {unit}"
    return f"{done}/{total} {unit} ({100 * done // total}%)"


def remaining_s(done: float, total: float | None, seconds: float) -> float | None:
    """Seconds left at the average speed so far (None before anything was done)."""
    if not total or done <= 0 or seconds <= 0 or not math.isfinite(total):
        return None
    return (total - done) * seconds / done


class Progress:
    """Counts the units of one loop. In a terminal a tqdm bar (when `bar`); otherwise a plain
    line every interval_s() seconds, and one at the end when `leave` (without `leave` only after
    the loop already printed one: short loops stay silent). Nothing at all when disabled or when
    the total is 0."""

    def __init__(
        self,
        total: int | None,
        what: str,
        unit: str = "img",
        *,
        enabled: bool = True,
        leave: bool = True,
        bar: bool = True,
    ) -> None:
        self.total, self.what, self.unit, self.leave = total, what, unit, leave
        self.enabled = enabled and total != 0
        self.plain = self.enabled and not live()
        self.done, self.printed_at = 0, -1
        self.started = self.last_line = time.monotonic()
        self.interval = interval_s() if self.plain else DEFAULT_INTERVAL_S
        self.bar = None
        if self.enabled and not self.plain and bar:
            self.bar = tqdm(
                total=total, desc=what, unit=unit, leave=leave, dynamic_ncols=True
            )

    def update(self, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif self.plain and time.monotonic() - self.last_line >= self.interval:
            self._say()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
        elif self.plain and self.done != self.printed_at and (self.leave or self.printed_at >= 0):
            self._say()
        self.plain = False

    def line(self) -> str:
        elapsed = time.monotonic() - self.started
        return progress_line(
            self.what,
            count_text(self.done, self.total, self.unit),
            elapsed=elapsed,
            speed=rate(self.done, elapsed, self.unit),
            eta=remaining_s(self.done, self.total, elapsed) if self.done != self.total else None,
        )

    def _say(self) -> None:
        print(self.line(), flush=True)
        self.printed_at, self.last_line = self.done, time.monotonic()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def track(
    items: Iterable,
    what: str,
    *,
    total: int | None = None,
    unit: str = "img",
    enabled: bool = True,
    leave: bool = True,
    bar: bool = True,
) -> Iterator:
    """`items` one by one, each counted as one unit of a Progress (total: len(items) if known)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)
    with Progress(total, what, unit, enabled=enabled, leave=leave, bar=bar) as progress:
        for item in items:
            yield item
            progress.update()


__all__ = [
    "DEFAULT_INTERVAL_S",
    "INTERVAL_ENV",
    "Progress",
    "count_text",
    "duration",
    "interval_s",
    "live",
    "progress_line",
    "rate",
    "remaining_s",
    "track",
]
