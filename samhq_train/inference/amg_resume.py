"""What samhq-amg records of a run in each image's JSON, and which images an earlier run with the
same settings finished (`--skip-existing`, to finish the rest after Ctrl-C or a fixed image).

Each `<stem>.json` carries `info.samhq_amg`: the options that shape its masks (the weights given,
the generator's options, the output mode, HQ, bf16 / int8; not the device). An image is done when
its JSON holds the same record and the image's file name (`images[0].file_name`) and every file it
names is there (the overlay, with --output-mode binary_mask each mask PNG). A JSON with another
record or image, or one samhq-amg did not write, is not taken as done: it is refused as any
existing output is, before the model is read (with --overwrite as well, such an image is redone:
--skip-existing skips only the finished ones). The weights are recorded as the path given
(resolved), not by content: a checkpoint replaced at the same path is not noticed.
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


def read_json(json_path: Path):
    """An earlier `<stem>.json`'s content, or None: no such file, or not JSON."""
    try:
        return json.loads(json_path.read_text())
    except (OSError, ValueError):
        return None


def recorded_settings(data) -> dict | None:
    """The record in an earlier `<stem>.json`'s content, or None: not samhq-amg's."""
    info = data.get("info") if isinstance(data, dict) else None
    record = info.get(RECORD_KEY) if isinstance(info, dict) else None
    return record if isinstance(record, dict) else None


def recorded_image_name(data) -> str | None:
    """The file name of the image an earlier samhq-amg JSON describes, or None."""
    try:
        name = data["images"][0]["file_name"]
    except (KeyError, IndexError, TypeError):
        return None
    return name if isinstance(name, str) else None


def mask_files_named(data, stem: str) -> list[str]:
    """The `<stem>_masks/` file names an earlier samhq-amg JSON's content names (binary_mask),
    else []: only names as samhq-amg gives them (`<stem>_masks/0000.png`), so that a JSON
    edited or written by someone else cannot have the user's own files there taken as
    samhq-amg's."""
    try:
        names = [a["segmentation"] for a in data["annotations"]]
    except (KeyError, TypeError):
        return []
    ours = re.compile(re.escape(f"{stem}_masks/") + r"([0-9]{4,}\.png)")
    found = [ours.fullmatch(n) for n in names if isinstance(n, str)]
    return [m.group(1) for m in found if m]


def recorded_mask_files(json_path: Path, stem: str) -> list[str]:
    """mask_files_named of the JSON at `json_path` ([] where there is none)."""
    return mask_files_named(read_json(json_path), stem)


def differences(earlier: dict, now: dict) -> list[str]:
    """`--flag earlier-value (now now-value)` for each setting that differs."""
    keys = sorted(set(earlier) | set(now))
    return [
        f"--{k.replace('_', '-')} {earlier.get(k)} (now {now.get(k)})"
        for k in keys
        if earlier.get(k) != now.get(k)
    ]


def other_run(json_path: Path, image: Path, made_from, earlier: dict, record: dict) -> str:
    """The refusal of an earlier samhq-amg JSON that is not this run's result for `image`."""
    again = "pass --overwrite as well to redo it (the finished images are still skipped)"
    if made_from != image.name:
        return (
            f"{json_path} was made from another image ({made_from}): give another --out, or "
            f"{again}"
        )
    changed = "; ".join(differences(earlier, record)[:3])
    return (
        f"{json_path} was written with other settings ({changed}): give those settings to "
        f"finish that run, or {again}"
    )


def earlier_results(
    images: list[Path], out: Path, record: dict
) -> tuple[list[Path], list[Path], str | None]:
    """(the images an earlier run with `record` finished in `out`; those it began, its JSON there
    but not every file it names, which are redone; and the refusal of the first JSON samhq-amg
    wrote with other settings or of another image, which --skip-existing must not take as done:
    refused, or with --overwrite redone)."""
    done, begun, other = [], [], None
    for image in images:
        json_path = out / f"{image.stem}.json"
        data = read_json(json_path)
        earlier = recorded_settings(data)
        if earlier is None:
            continue
        made_from = recorded_image_name(data)
        if earlier != record or made_from != image.name:
            other = other or other_run(json_path, image, made_from, earlier, record)
            continue
        files = [out / f"{image.stem}_overlay.png"]
        files += [out / f"{image.stem}_masks" / n for n in mask_files_named(data, image.stem)]
        (done if all(f.is_file() for f in files) else begun).append(image)
    return done, begun, other


__all__ = ["RECORD_KEY", "earlier_results", "recorded_mask_files", "run_record"]
