"""What a folder set's pairing error adds when the likely cause shows: masks named with another
suffix than the set's mask_suffix, or a mask drawn on the upright view of an EXIF-turned photo."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from samhq_train import imaging


def exif_turn_hint(mask_hw, image_hw, image_path: Path) -> str:
    """Why a mask may have the image's size turned by 90 degrees: an EXIF orientation that
    viewers apply (the mask was drawn on the upright picture) and the reader does not."""
    if tuple(mask_hw) != tuple(image_hw)[::-1]:
        return ""
    try:
        header = imaging.read_header(image_path)
    except imaging.ImageFileError:
        return ""
    if header is None or header.orientation not in (5, 6, 7, 8):  # the flags that turn it
        return ""
    return (
        f"; {image_path.name} has EXIF orientation {header.orientation} (viewers show it turned, "
        f"{mask_hw[1]}x{mask_hw[0]}) but images are read as stored: save it upright (e.g. PIL's "
        "ImageOps.exif_transpose)"
    )


def mask_suffix_hint(no_image: Sequence[Path], images: Mapping[str, Path], tail: str) -> str:
    """"; they look like <stem>_mask.png: ..." when every mask without an image is an image's
    stem plus one and the same suffix (masks named another way than the set's mask_suffix)."""
    suffixes = set()
    for mask in no_image:
        stem = mask.name[: len(mask.name) - len(tail)]
        found = {stem[len(s):] for s in images if stem.startswith(s) and len(stem) > len(s)}
        if not found:
            return ""
        suffixes.add(min(found, key=len))
    if len(suffixes) != 1:
        return ""
    suffix = suffixes.pop()
    return (
        f"; they look like <stem>{suffix}{tail}: set this set's mask_suffix to {suffix} "
        f"(data=folder: data.train_sets.0.mask_suffix={suffix} data.val_sets.0.mask_suffix="
        f"{suffix})"
    )


__all__ = ["exif_turn_hint", "mask_suffix_hint"]
