"""<stem>_masks/ of samhq-amg and samhq-concept: one result's masks as NNNN.png, the folder
holding exactly them (an earlier result's extra masks do not stay; the user's own files do)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np

from samhq_train.files import atomic_write_folder

from .predict_files import write_png


def write_mask_folder(
    out: Path, stem: str, masks: Sequence[np.ndarray], earlier: Collection[str], written: list
) -> list[str]:
    """<out>/<stem>_masks/NNNN.png (0/255) of `masks` (boolean), the folder written whole: the
    files `earlier` names (the masks an earlier <stem>.json names, resume_records.numbered_masks)
    go with that JSON, removed once the new masks are in, so that no JSON names masks it does not
    describe (the folder's write failing leaves both as they were); files the command did not
    write stay. Appends each mask file to `written` (files.all_or_none); returns their names
    relative to `out`."""
    names = [f"{i:04d}.png" for i in range(len(masks))]

    def write(folder: Path) -> None:
        for name, mask in zip(names, masks):
            write_png(folder / name, mask.astype(np.uint8) * np.uint8(255))

    folder = atomic_write_folder(out / f"{stem}_masks", write, replaces={*earlier, *names})
    written.extend(folder / name for name in names)
    (out / f"{stem}.json").unlink(missing_ok=True)  # there with --overwrite, or begun before
    return [f"{stem}_masks/{name}" for name in names]


__all__ = ["write_mask_folder"]
