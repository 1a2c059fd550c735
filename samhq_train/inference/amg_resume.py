"""What samhq-amg records of a run in each image's JSON, and which images an earlier run with the
same settings finished (`--skip-existing`, to finish the rest after Ctrl-C or a fixed image); the
logic shared with samhq-concept is resume_records'.

Each `<stem>.json` carries `info.samhq_amg`: the options that shape its masks (the weights given,
the generator's options, the output mode, HQ, bf16 / int8; not the device). An image is done when
its JSON holds the same record and the image's file name (`images[0].file_name`) and every file it
names is there (the overlay, with --output-mode binary_mask each mask PNG). A JSON with another
record or image, or one samhq-amg did not write, is not taken as done: it is refused as any
existing output is, before the model is read (with --overwrite as well, such an image is redone:
--skip-existing skips only the finished ones).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .amg.generator import OPTION_RANGES
from .resume_records import numbered_masks, read_json
from .resume_records import run_record as options_record

RECORD_KEY = "samhq_amg"
# the flags that do not change an image's masks
NOT_RECORDED = ("image", "images", "bare", "out", "overwrite", "skip_existing", "device")


def run_record(args: argparse.Namespace) -> dict:
    """The settings of this run that shape its masks, as JSON values (paths resolved)."""
    record = options_record(args, NOT_RECORDED)
    assert set(OPTION_RANGES) <= set(record), "every generator option is recorded"
    return record


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
    else [] (only names as samhq-amg gives them: resume_records.numbered_masks)."""
    try:
        names = [a["segmentation"] for a in data["annotations"]]
    except (KeyError, TypeError):
        return []
    return numbered_masks(names, stem)


def recorded_mask_files(json_path: Path, stem: str) -> list[str]:
    """mask_files_named of the JSON at `json_path` ([] where there is none)."""
    return mask_files_named(read_json(json_path), stem)


def amg_result(data, stem: str) -> tuple[dict | None, str | None, list[str]]:
    """(record, image file name, files named) of an earlier `<stem>.json`'s content, as
    resume_records.earlier_results reads each command's."""
    files = [f"{stem}_overlay.png"] + [f"{stem}_masks/{n}" for n in mask_files_named(data, stem)]
    return recorded_settings(data), recorded_image_name(data), files


__all__ = ["RECORD_KEY", "amg_result", "recorded_mask_files", "run_record"]
