"""What samhq-concept records of a run in each image's `<stem>.json`, for `--skip-existing`
(resume_records holds the logic shared with samhq-amg): "samhq_concept", the options that shape
the result (the prompts, weights, BPE file, threshold, mask source, HQ, bf16; not the device), and
"image", the image it was made from. Done: that record, that image's name, the overlay and every
`<stem>_masks/NNNN.png` its instances name there."""

from __future__ import annotations

from pathlib import Path

from .resume_records import numbered_masks

RECORD_KEY = "samhq_concept"
# the flags that do not change an image's result
NOT_RECORDED = ("image", "images", "out", "overwrite", "skip_existing", "device")


def recorded_mask_names(data, stem: str) -> list[str]:
    """The `<stem>_masks/` file names an earlier samhq-concept JSON's instances name (only as
    samhq-concept names them: resume_records.numbered_masks), else []."""
    instances = data.get("instances") if isinstance(data, dict) else None
    if not isinstance(instances, list):
        return []
    return numbered_masks([i.get("mask") for i in instances if isinstance(i, dict)], stem)


def concept_result(data, stem: str) -> tuple[dict | None, str | None, list[str]]:
    """(run record, image file name, files named) of an earlier `<stem>.json`'s content, as
    resume_records.earlier_results reads them; (None, None, []) where samhq-concept did not
    write it."""
    record = data.get(RECORD_KEY) if isinstance(data, dict) else None
    if not isinstance(record, dict) or not isinstance(data.get("image"), str):
        return None, None, []
    masks = [f"{stem}_masks/{n}" for n in recorded_mask_names(data, stem)]
    return record, Path(data["image"]).name, [f"{stem}_overlay.png", *masks]


__all__ = ["NOT_RECORDED", "RECORD_KEY", "concept_result", "recorded_mask_names"]
