"""The one home of `--skip-existing` (samhq-amg, samhq-concept): what a command records of a run in
each image's JSON, and which images an earlier run with the same settings finished in --out.

A run's record is the options that shape an image's result (each command names those that do not:
the images, --out, --overwrite, --skip-existing, the device), as JSON values, the weights' paths
resolved (recorded by path, not content: a checkpoint replaced at the same path is not noticed).
An image is done when its JSON holds the same record and the image's file name and every file it
names is there; begun when its JSON is there with the record but not every file (redone); a JSON
with another record or image is refused in one line (with --overwrite as well, redone)."""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path

# what --overwrite as well does to the images --skip-existing does not take as done
OVERWRITE_TOO = "pass --overwrite as well to redo it (the finished images are still skipped)"
# Ctrl-C's line, and the note after unreadable images, of a command with --skip-existing
SKIP_EXISTING_AGAIN = "run the same command with --skip-existing to make the rest"


def taken_hint(skip_existing: bool) -> str:
    """What to do about an output in the way of an image to be made."""
    if skip_existing:
        return "pass --overwrite as well to replace it (the finished images are still skipped)"
    return "pass --overwrite to replace it, or give another --out"


def run_record(args: argparse.Namespace, not_recorded: tuple[str, ...]) -> dict:
    """The options of this run but `not_recorded`, as JSON values (checkpoint, base and bpe
    resolved)."""
    record = {k: v for k, v in vars(args).items() if k not in not_recorded}
    for key in ("checkpoint", "base", "bpe"):
        if record.get(key) is not None:
            record[key] = str(Path(record[key]).resolve())
    return json.loads(json.dumps(record))  # tuples as lists: as read back from a JSON


def read_json(json_path: Path):
    """An earlier `<stem>.json`'s content, or None: no such file, or not JSON."""
    try:
        return json.loads(json_path.read_text())
    except (OSError, ValueError):
        return None


def numbered_masks(names: list, stem: str) -> list[str]:
    """Of the names an earlier JSON gives its masks, the file names of those named as the commands
    name theirs (`<stem>_masks/0000.png`), so that a JSON edited or written by someone else cannot
    have the user's own files there taken as the command's."""
    ours = re.compile(re.escape(f"{stem}_masks/") + r"([0-9]{4,}\.png)")
    found = [ours.fullmatch(n) for n in names if isinstance(n, str)]
    return [m.group(1) for m in found if m]


def differences(earlier: dict, now: dict) -> list[str]:
    """`--flag earlier-value (now now-value)` for each setting that differs."""
    keys = sorted(set(earlier) | set(now))
    return [
        f"--{k.replace('_', '-')} {earlier.get(k)} (now {now.get(k)})"
        for k in keys
        if earlier.get(k) != now.get(k)
    ]


def other_run(json_path: Path, image: Path, made_from, earlier: dict, record: dict) -> str:
    """The refusal of an earlier JSON that is not this run's result for `image`."""
    if made_from != image.name:
        return (
            f"{json_path} was made from another image ({made_from}): give another --out, or "
            f"{OVERWRITE_TOO}"
        )
    changed = "; ".join(differences(earlier, record)[:3])
    return (
        f"{json_path} was written with other settings ({changed}): give those settings to "
        f"finish that run, or {OVERWRITE_TOO}"
    )


# of an earlier <stem>.json's content and the image's stem: (its run record, or None where the
# command did not write it; the file name of the image it was made from; the files it names,
# relative to --out)
ReadResult = Callable[[object, str], "tuple[dict | None, str | None, list[str]]"]


def earlier_results(
    images: list[Path], out: Path, record: dict, read_result: ReadResult
) -> tuple[list[Path], list[Path], str | None]:
    """(the images an earlier run with `record` finished in `out`; those it began, its JSON there
    but not every file it names, which are redone; and the refusal of the first JSON the command
    wrote with other settings or of another image, which --skip-existing must not take as done:
    refused, or with --overwrite redone)."""
    done, begun, other = [], [], None
    if not out.is_dir():
        return done, begun, other
    for image in images:
        json_path = out / f"{image.stem}.json"
        earlier, made_from, files = read_result(read_json(json_path), image.stem)
        if earlier is None:
            continue
        if earlier != record or made_from != image.name:
            other = other or other_run(json_path, image, made_from, earlier, record)
            continue
        (done if all((out / f).is_file() for f in files) else begun).append(image)
    return done, begun, other


def skip_finished(
    images: list[Path],
    out: Path,
    record: dict,
    read_result: ReadResult,
    overwrite: bool,
    what: str,
) -> tuple[list[Path], list[Path]]:
    """(the images an earlier run with the same settings did not finish in `out`, a line on
    stderr counting the others (`what`: e.g. "masks"); of them, those it began, whose files are
    its own to replace). A JSON written with other settings or of another image raises
    ValueError with its one line, unless `overwrite` (then it is redone)."""
    done, begun, other = earlier_results(images, out, record, read_result)
    if other is not None and not overwrite:
        raise ValueError(other)
    if done:
        print(
            f"skipping {len(done)} of {len(images)} images: their {what} are in {out} already",
            file=sys.stderr,
        )
    return [p for p in images if p not in done], begun


__all__ = [
    "OVERWRITE_TOO",
    "SKIP_EXISTING_AGAIN",
    "earlier_results",
    "numbered_masks",
    "read_json",
    "run_record",
    "skip_finished",
    "taken_hint",
]
