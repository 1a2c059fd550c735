"""Raw (image, mask) sources: paired folders (here), COCO-format json (coco_instances.py), and
the registry read from config.

A source item is a dict: ``image`` H x W x 3 uint8 RGB, ``mask`` H x W uint8 0-255 (not
binarised), ``name`` (file stem / ``<stem>_<annotation id>``), ``dataset`` and ``where`` (the
file a message about this item should name). Problems with the data raise ``DataError`` whose
message names the file and what to do; cheap checks (folders, pairing) run in ``__init__``.

Each source also says who its sample i is without reading it: ``sample_key(i)`` (a SampleKey,
sample_keys.py).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from torch.utils.data import Dataset

from samhq_train.imaging import IMAGE_SUFFIXES
from samhq_train.user_files import is_hidden

from .coco_instances import CocoInstanceDataset
from .image_files import DataError, read_image, read_mask, stored_size
from .pair_hints import exif_turn_hint, mask_suffix_hint
from .sample_keys import SampleKey
from .set_paths import LAYOUT_HINT, check_set_dir, list_names, resolve_set_path

log = logging.getLogger(__name__)


def _require_same_size(mask_hw, image_hw, mask_path: Path, image_path: Path) -> None:
    if tuple(mask_hw) != tuple(image_hw):
        raise DataError(
            f"{mask_path} is {mask_hw[1]}x{mask_hw[0]} but its image {image_path.name} is "
            f"{image_hw[1]}x{image_hw[0]} (WxH); a mask must have its image's size"
            + exif_turn_hint(mask_hw, image_hw, image_path)
        )


class PairedFolderDataset(Dataset):
    """Images and masks in two folders (or one), matched by file stem.

    A mask is ``mask_dir / (stem + mask_suffix + mask_ext)``. When both live in one folder, files
    that look like masks are not taken as images. Unmatched files: ``strict`` raises a DataError
    naming them; otherwise they are skipped with a warning.
    """

    def __init__(
        self,
        image_dir: str | Path,
        mask_dir: str | Path,
        *,
        name: str | None = None,
        image_ext: str | Sequence[str] = IMAGE_SUFFIXES,
        mask_ext: str = ".png",
        mask_suffix: str = "",
        strict: bool = True,
        skip_setting: str = "strict: false",
    ):
        self.image_dir, self.mask_dir = Path(image_dir), Path(mask_dir)
        self.name = name or self.image_dir.name
        exts = {image_ext.lower()} if isinstance(image_ext, str) else {e.lower() for e in image_ext}
        check_set_dir(self.image_dir, "image folder", self.name)
        check_set_dir(self.mask_dir, "mask folder", self.name)

        mask_tail = (mask_suffix + mask_ext).lower()
        masks = {}
        for p in self.mask_dir.iterdir():
            if p.name.lower().endswith(mask_tail) and p.is_file() and not is_hidden(p):
                masks[p.name[: len(p.name) - len(mask_tail)]] = p
        same_dir = self.image_dir.resolve() == self.mask_dir.resolve()
        images: dict[str, Path] = {}
        for p in sorted(self.image_dir.iterdir()):
            if p.suffix.lower() not in exts or not p.is_file() or is_hidden(p):
                continue
            if same_dir and p.name.lower().endswith(mask_tail):
                continue
            if p.stem in images:
                raise DataError(
                    f"{self.name}: two images share the stem {p.stem!r} "
                    f"({images[p.stem].name}, {p.name}) "
                    f"in {self.image_dir}; keep one or restrict image_ext"
                )
            images[p.stem] = p
        if not images:
            raise DataError(
                f"{self.name}: no images ending in {sorted(exts)} in {self.image_dir}; "
                f"{LAYOUT_HINT}, or set image_ext"
            )
        no_mask = [images[s] for s in sorted(images) if s not in masks]
        no_image = [masks[s] for s in sorted(masks) if s not in images]
        problems = []
        if no_mask:
            problems.append(
                f"{len(no_mask)} image(s) without a mask "
                f"(expected <stem>{mask_suffix}{mask_ext} in "
                f"{self.mask_dir}): {list_names(no_mask)}"
            )
        if no_image:
            problems.append(
                f"{len(no_image)} mask(s) without an image in {self.image_dir}: "
                f"{list_names(no_image)}"
            )
        hint = mask_suffix_hint(no_image, images, mask_suffix + mask_ext, image_ext=exts)
        problems[-1:] = [p + hint for p in problems[-1:]]
        if problems:
            text = f"{self.name}: " + "; ".join(problems)
            if strict:
                raise DataError(
                    text + f". Add or remove those files, or set {skip_setting} to skip them"
                )
            log.warning("%s. Skipping them (lenient mode)", text)
        self.pairs = [(s, images[s], masks[s]) for s in sorted(images) if s in masks]
        if not self.pairs:
            raise DataError(f"{self.name}: no image has a mask; {hint[2:] or LAYOUT_HINT}")

    def __len__(self) -> int:
        return len(self.pairs)

    def sample_key(self, idx: int) -> SampleKey:
        stem, image_path, mask_path = self.pairs[idx]
        return SampleKey(self.name, stem, (image_path, mask_path))

    def __getitem__(self, idx: int) -> dict:
        stem, image_path, mask_path = self.pairs[idx]
        image = read_image(image_path)
        mask = read_mask(mask_path)
        _require_same_size(mask.shape, image.shape[:2], mask_path, image_path)
        return {
            "image": image,
            "mask": mask,
            "name": stem,
            "dataset": self.name,
            "where": str(mask_path),
        }

    def checked_files(self, idx: int) -> dict:
        """Sample idx's files checked without decoding the image: its header, the mask read as
        __getitem__ reads it, their sizes. Returns the item without "image"; DataError naming
        the file."""
        stem, image_path, mask_path = self.pairs[idx]
        size = stored_size(image_path)
        mask = read_mask(mask_path)
        _require_same_size(mask.shape, size, mask_path, image_path)
        return {"mask": mask, "name": stem, "dataset": self.name, "where": str(mask_path)}


SOURCE_TYPES = {"folder": PairedFolderDataset, "coco": CocoInstanceDataset}


def build_source(
    spec: Mapping, root: str | Path | None = None, strict: bool = True, strict_setting: str = ""
) -> Dataset:
    """One dataset from a config entry: ``{name, type: folder|coco, ...}``; relative paths are
    taken from ``root``. ``spec["strict"]``, when given, overrides ``strict``; a refusal of
    unmatched files names `strict_setting` (the config key that gave ``strict``) as the way to
    skip them, or the entry's own ``strict: false`` where the entry sets it.

    folder keys: image_dir, mask_dir, image_ext, mask_ext, mask_suffix.
    coco keys: image_dir, annotation_file, min_area, include_crowd, category_ids.
    """
    spec = dict(spec)  # the caller's entry is left as it is
    kind = spec.pop("type", "folder")
    if kind not in SOURCE_TYPES:
        raise DataError(
            f"dataset {spec.get('name')!r}: unknown type {kind!r}; "
            f"use one of {sorted(SOURCE_TYPES)}"
        )
    root = None if root is None else Path(root)
    if "strict" in spec or not strict_setting:
        skip_setting = f"strict: false in the entry of {spec.get('name')!r}"
    else:
        skip_setting = f"{strict_setting}=false"
    strict = spec.pop("strict", strict)
    for key in ("image_dir", "mask_dir", "annotation_file"):
        if key in spec:
            spec[key] = resolve_set_path(spec[key], root, spec.get("name"))
    required = ("image_dir", "mask_dir") if kind == "folder" else ("image_dir", "annotation_file")
    missing = [k for k in required if k not in spec]
    if missing:
        raise DataError(f"dataset {spec.get('name')!r} ({kind}): missing key(s) {missing}")
    if "image_ext" in spec and not isinstance(spec["image_ext"], str):
        spec["image_ext"] = tuple(spec["image_ext"])
    try:
        return SOURCE_TYPES[kind](**spec, strict=strict, skip_setting=skip_setting)
    except TypeError as e:
        raise DataError(f"dataset {spec.get('name')!r} ({kind}): {e}") from None
