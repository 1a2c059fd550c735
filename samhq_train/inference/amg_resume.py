"""What samhq-amg records of a run in each image's JSON, and which images an earlier run with the
same settings finished (`--skip-existing`, to finish the rest after Ctrl-C or a fixed image).

Each `<stem>.json` carries `info.samhq_amg`: the options that shape its masks (the weights
given, the generator's options, the output mode, HQ, bf16 / int8; not the device). An image is
done when its JSON holds the same record and every file it names is there (the overlay, with
--output-mode binary_mask each mask PNG). A JSON with another record, or one samhq-amg did not
write, is not taken as done: it is refused as any existing output is, before the model is read
(with --overwrite as well, such an image is redone: --skip-existing skips only the finished ones).
The weights are recorded as the path given (resolved), not by content: a checkpoint replaced at
the same path is not noticed.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from .amg.generator import OPTION_RANGES

RECORD_KEY = "samhq_amg"
# the flags that do not change an image's masks
NOT_RECORDED = ("image", "images", "bare", "out", "overwrite", "skip_existing", "device")


def run_record(args: argparse.Namespace) -> dict:
    """The settings of this run that shape its masks, as JSON values (paths resolved)."""
    record = {k: v for k, v in vars(args).items() if k not in NOT_RECORDED}
    for key in ("checkpoint", "base"):
        if record.get(key) is not None:
            record[key] = str(Path(record[key]).resolve())
    assert set(OPTION_RANGES) <= set(record), "every generator option is recorded"
    return record


def recorded_settings(json_path: Path) -> dict | None:
    """The record in an earlier `<stem>.json`, or None: no such file, not JSON, not samhq-amg's."""
    try:
        data = json.loads(json_path.read_text())
    except (OSError, ValueError):
        return None
    info = data.get("info") if isinstance(data, dict) else None
    record = info.get(RECORD_KEY) if isinstance(info, dict) else None
    return record if isinstance(record, dict) else None


def recorded_mask_files(json_path: Path, stem: str) -> list[str]:
    """The `<stem>_masks/` file names an earlier samhq-amg JSON names (binary_mask), else []:
    only names as samhq-amg gives them (`<stem>_masks/0000.png`), so that a JSON edited or
    written by someone else cannot have the user's own files there taken as samhq-amg's."""
    try:
        data = json.loads(json_path.read_text())
        names = [a["segmentation"] for a in data["annotations"]]
    except (OSError, ValueError, KeyError, TypeError):
        return []
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


def earlier_results(
    images: list[Path], out: Path, record: dict
) -> tuple[list[Path], list[Path], str | None]:
    """(the images an earlier run with `record` finished in `out`; those it began, its JSON there
    but not every file it names, which are redone; and a line naming the first JSON samhq-amg
    wrote with other settings, which --skip-existing must not take as done: refused, or with
    --overwrite redone)."""
    done, begun, other = [], [], None
    for image in images:
        json_path = out / f"{image.stem}.json"
        earlier = recorded_settings(json_path)
        if earlier is None:
            continue
        if earlier != record:
            if other is None:
                changed = "; ".join(differences(earlier, record)[:3])
                other = f"{json_path} was written with other settings ({changed})"
            continue
        files = [out / f"{image.stem}_overlay.png"]
        masks = out / f"{image.stem}_masks"
        files += [masks / n for n in recorded_mask_files(json_path, image.stem)]
        (done if all(f.is_file() for f in files) else begun).append(image)
    return done, begun, other


__all__ = ["RECORD_KEY", "earlier_results", "recorded_mask_files", "run_record"]
