"""What a folder set's pairing error adds when the likely cause shows: images with a suffix the
set's image_ext does not take, masks named with another suffix than the set's mask_suffix, or a
mask drawn on the upright view of an EXIF-turned photo."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from pathlib import Path

from samhq_train import image_header


def exif_turn_hint(mask_hw, image_hw, image_path: Path) -> str:
    """Why a mask may have the image's size turned by 90 degrees: an EXIF orientation that
    viewers apply (the mask was drawn on the upright picture) and the reader does not."""
    if tuple(mask_hw) != tuple(image_hw)[::-1]:
        return ""
    try:
        header = image_header.read_header(image_path)
    except image_header.ImageFileError:
        return ""
    if header is None or header.orientation not in (5, 6, 7, 8):  # the flags that turn it
        return ""
    return (
        f"; {image_path.name} has EXIF orientation {header.orientation} (viewers show it turned, "
        f"{mask_hw[1]}x{mask_hw[0]}) but images are read as stored: save it upright (e.g. PIL's "
        "ImageOps.exif_transpose)"
    )


def mask_suffix_hint(
    no_image: Sequence[Path],
    images: Mapping[str, Path],
    tail: str,
    image_ext: Collection[str] | None = None,
) -> str:
    """Why masks have no image, when it shows: their images lie in the image folder under a
    suffix that image_ext (the set's list, when given) does not take (image_ext_hint); or every
    mask without an image is an image's stem plus one and the same suffix ("; they look like
    <stem>_mask.png: ...", masks named another way than the set's mask_suffix)."""
    if hint := image_ext_hint(no_image, images, tail, image_ext):
        return hint
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


def image_ext_hint(
    no_image: Sequence[Path],
    images: Mapping[str, Path],
    tail: str,
    image_ext: Collection[str] | None = None,
    shown: int = 5,
) -> str:
    """"; their images have a suffix this set's image_ext does not take (x.tif): add .tif to it
    ..." when files with the stems of masks without an image lie in the image folder (that of
    `images`) beside the images taken; the whole setting when image_ext is given."""
    if not no_image or not images:
        return ""
    stems = {mask.name[: len(mask.name) - len(tail)] for mask in no_image}
    folder = next(iter(images.values())).parent
    skipped = set(no_image)
    try:
        found = sorted(
            p for p in folder.iterdir()
            if p.stem in stems and p not in skipped and not p.name.lower().endswith(tail.lower())
            and p.is_file()
        )
    except OSError:  # the folder went away meanwhile: no hint
        return ""
    if not found:
        return ""
    new = sorted({p.suffix.lower() for p in found})
    names = ", ".join(p.name for p in found[:shown]) + (", ..." if len(found) > shown else "")
    if image_ext is None:
        where = "data.train_sets.0.image_ext / data.val_sets.0.image_ext"
    else:
        listed = ",".join(sorted({e.lower() for e in image_ext} | set(new)))
        where = f"data.train_sets.0.image_ext=[{listed}] data.val_sets.0.image_ext=[{listed}]"
    return (
        f"; their images have a suffix this set's image_ext does not take ({names}): add "
        f"{', '.join(new)} to it (data=folder: {where})"
    )


__all__ = ["exif_turn_hint", "image_ext_hint", "mask_suffix_hint"]
