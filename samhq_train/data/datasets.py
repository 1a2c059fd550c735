"""Raw (image, mask) sources: paired folders, COCO-format json, and the registry read from config.

A source item is a dict: ``image`` H x W x 3 uint8 RGB, ``mask`` H x W uint8 0-255 (not
binarised), ``name`` (file stem / ``<stem>_<annotation id>``), ``dataset`` and ``where`` (the
file a message about this item should name). Problems with the data raise ``DataError`` whose
message names the file and what to do; cheap checks (folders, pairing) run in ``__init__``.

Each source also says who its sample i is without reading it: ``sample_key(i)`` (a SampleKey:
dataset, name, the files it is made of and, for COCO, its annotation record). The embedding cache
keys and names its entries by it; ``sample_key(dataset, i)`` finds it through a ConcatDataset.
"""

from __future__ import annotations

import bisect
import contextlib
import io
import json
import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch.utils.data import ConcatDataset, Dataset

from samhq_train.coco_masks import segmentation_problem
from samhq_train.imaging import IMAGE_SUFFIXES
from samhq_train.user_files import read_text

from .coco_annotations import (
    json_size_problem,
    left_out_reason,
    no_instance_error,
    require_coco_entries,
    require_unique_ids,
)
from .image_files import DataError, EmptyMaskError, read_image, read_mask, stored_size
from .pair_hints import exif_turn_hint, mask_suffix_hint

log = logging.getLogger(__name__)

LAYOUT_HINT = "check data.root and the set's folders (data/README.md shows the expected layout)"


@dataclass(frozen=True)
class SampleKey:
    """Who a source's sample is, known without reading it."""

    dataset: str
    name: str  # the item's "name": file stem, or <stem>_<annotation id> for COCO
    files: tuple[Path, ...]  # the files it is made of (image, and mask for folders)
    annotation: dict | None = None  # COCO: the instance's json record


def leaf_of(source: Dataset, index: int) -> tuple[Dataset, int]:
    """(the source that holds sample `index`, its index there), through (nested)
    ConcatDatasets."""
    while isinstance(source, ConcatDataset):
        part = bisect.bisect_right(source.cumulative_sizes, index)
        if part:
            index -= source.cumulative_sizes[part - 1]
        source = source.datasets[part]
    return source, index


def sample_key(source: Dataset, index: int) -> SampleKey | None:
    """The SampleKey of sample `index` of a source, also through (nested) ConcatDatasets; None for
    a source without ``sample_key`` (its sample is known only by reading it)."""
    source, index = leaf_of(source, index)
    key_of = getattr(source, "sample_key", None)
    return None if key_of is None else key_of(index)


def _list_names(paths: Sequence[Path], limit: int = 10) -> str:
    names = ", ".join(p.name for p in paths[:limit])
    return names + (f" ... and {len(paths) - limit} more" if len(paths) > limit else "")


def check_set_dir(path: Path, what: str, dataset: str) -> None:
    if not path.is_dir():
        raise DataError(f"{dataset}: {what} not found: {path}; {LAYOUT_HINT}")


def check_set_file(path: Path, what: str, dataset: str) -> None:
    if not path.is_file():
        raise DataError(f"{dataset}: {what} not found: {path}; {LAYOUT_HINT}")


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
            if p.name.lower().endswith(mask_tail) and p.is_file():
                masks[p.name[: len(p.name) - len(mask_tail)]] = p
        same_dir = self.image_dir.resolve() == self.mask_dir.resolve()
        images: dict[str, Path] = {}
        for p in sorted(self.image_dir.iterdir()):
            if p.suffix.lower() not in exts or not p.is_file():
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
                f"{self.mask_dir}): {_list_names(no_mask)}"
            )
        if no_image:
            problems.append(
                f"{len(no_image)} mask(s) without an image in {self.image_dir}: "
                f"{_list_names(no_image)}"
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


class CocoInstanceDataset(Dataset):
    """One sample per instance of a COCO-format json (polygons, RLE and uncompressed RLE).

    Crowd instances are dropped unless ``include_crowd``; instances with ``area < min_area``
    (pixels, the json's ``area``) are dropped. ``category_ids`` optionally keeps only those.
    """

    def __init__(
        self,
        image_dir: str | Path,
        annotation_file: str | Path,
        *,
        name: str | None = None,
        min_area: float = 0.0,
        include_crowd: bool = False,
        category_ids: Sequence[int] | None = None,
        strict: bool = True,
        skip_setting: str = "strict: false",
    ):
        from pycocotools.coco import COCO

        self.image_dir, self.annotation_file = Path(image_dir), Path(annotation_file)
        self.name = name or self.annotation_file.stem
        check_set_dir(self.image_dir, "image folder", self.name)
        check_set_file(self.annotation_file, "annotation file", self.name)
        try:  # read here, not by COCO(path): user_files.read_text drops a byte-order mark
            dataset = json.loads(read_text(self.annotation_file))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataError(
                f"{self.annotation_file} is not valid json ({e}); re-export it"
            ) from None
        if not isinstance(dataset, dict):
            raise DataError(
                f"{self.annotation_file} is not COCO format (a json {type(dataset).__name__}, not "
                "an object); it needs 'images', 'annotations' and 'categories'"
            )
        self.coco = COCO()
        self.coco.dataset = dataset
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
                self.coco.createIndex()
        except (KeyError, TypeError, AssertionError) as e:
            raise DataError(
                f"{self.annotation_file} is not COCO format (missing or bad {e}); it needs "
                "'images', 'annotations' and 'categories'"
            ) from None
        require_coco_entries(self.coco.dataset, self.annotation_file)
        require_unique_ids(self.coco.dataset["annotations"], self.annotation_file)
        keep_cats = None if category_ids is None else set(category_ids)
        self.annotations = []
        missing: dict[int, Path] = {}
        left_out: Counter[str] = Counter()
        for ann_id in sorted(self.coco.anns):
            ann = self.coco.anns[ann_id]
            reason = left_out_reason(ann, self.annotation_file, keep_cats, min_area,
                                     include_crowd)
            if reason is not None:
                left_out[reason] += 1
                continue
            info = self.coco.imgs.get(ann["image_id"])
            if info is None:
                raise DataError(
                    f"{self.annotation_file}: annotation {ann_id} refers to image id "
                    f"{ann['image_id']}, which is not in 'images'; fix the json"
                )
            path = self.image_dir / info["file_name"]
            if ann["image_id"] not in missing and not path.is_file():
                missing[ann["image_id"]] = path
            if ann["image_id"] in missing:
                continue
            self.annotations.append(ann_id)
        if missing:
            paths = sorted(missing.values())
            text = (
                f"{self.name}: {len(paths)} image(s) listed in {self.annotation_file.name} are "
                f"missing from {self.image_dir}: {_list_names(paths)}"
            )
            if strict:
                raise DataError(
                    text + f". Add them, or set {skip_setting} to skip their instances")
            log.warning("%s. Skipping their instances (lenient mode)", text)
        counts = ", ".join(f"{n} {reason}" for reason, n in left_out.items())
        if not self.annotations:
            raise no_instance_error(self.name, self.annotation_file, len(self.coco.anns), counts,
                                    "without a segmentation" in left_out)
        if left_out:
            log.info("%s: %d of %d annotations of %s left out: %s", self.name, left_out.total(),
                     len(self.coco.anns), self.annotation_file.name, counts)

    def __len__(self) -> int:
        return len(self.annotations)

    def sample_key(self, idx: int) -> SampleKey:
        ann = self.coco.anns[self.annotations[idx]]
        info = self.coco.imgs[ann["image_id"]]
        stem = Path(info["file_name"]).stem
        image_path = self.image_dir / info["file_name"]
        return SampleKey(self.name, f"{stem}_{ann['id']}", (image_path,), annotation=ann)

    def _where(self, key: SampleKey) -> str:
        return f"{self.annotation_file} (annotation {key.annotation['id']}, image {key.files[0]})"

    def _require_json_size(self, key: SampleKey, height: int, width: int) -> None:
        problem = json_size_problem(self.coco.imgs[key.annotation["image_id"]], height, width)
        if problem is not None:
            raise DataError(f"{self._where(key)}: {problem}")

    def _segmentation(self, key: SampleKey, decode):
        """decode(annotation) (the COCO object's annToRLE or annToMask); DataError naming the
        annotation when its segmentation is malformed (coco_masks.segmentation_problem: an odd
        polygon pycocotools would read short, an RLE of another size than its image)."""
        info = self.coco.imgs[key.annotation["image_id"]]
        problem = segmentation_problem(
            key.annotation["segmentation"], info["height"], info["width"])
        if problem is not None:
            raise DataError(f"{self._where(key)}: {problem}")
        try:
            return decode(key.annotation)
        except Exception as e:  # pycocotools raises bare errors on malformed segmentations
            raise DataError(
                f"{self._where(key)}: unreadable segmentation ({type(e).__name__}: {e}); fix the "
                "json"
            ) from None

    def _require_object(self, key: SampleKey, pixels: int) -> None:
        """EmptyMaskError naming the annotation when its segmentation covers no pixel of the
        image (training skips it, as an empty mask of a folder set)."""
        if pixels == 0:
            info = self.coco.imgs[key.annotation["image_id"]]
            raise EmptyMaskError(
                f"{self._where(key)}: empty segmentation (no pixel of it inside the "
                f"{info.get('width')}x{info.get('height')} image); fix or remove the annotation"
            )

    def checked_files(self, idx: int) -> dict:
        """Sample idx's image header against the json's size, and its segmentation's pixel count
        (from its RLE, not decoded into a mask). Returns the item without "image" and "mask";
        DataError naming the annotation and its file (EmptyMaskError for an empty segmentation)."""
        from pycocotools import mask as mask_utils

        key = self.sample_key(idx)
        self._require_json_size(key, *stored_size(key.files[0]))
        rle = self._segmentation(key, self.coco.annToRLE)
        self._require_object(key, int(mask_utils.area(rle)))
        return {"mask": None, "name": key.name, "dataset": self.name, "where": self._where(key)}

    def __getitem__(self, idx: int) -> dict:
        key = self.sample_key(idx)
        image_path, where = key.files[0], self._where(key)
        image = read_image(image_path)
        self._require_json_size(key, *image.shape[:2])
        mask = self._segmentation(key, self.coco.annToMask).astype(np.uint8) * 255
        self._require_object(key, int(np.count_nonzero(mask)))
        return {
            "image": image,
            "mask": mask,
            "name": key.name,
            "dataset": self.name,
            "where": where,
        }


SOURCE_TYPES = {"folder": PairedFolderDataset, "coco": CocoInstanceDataset}


def resolve_set_path(path: str | Path, root: Path | None, dataset: str) -> Path:
    path = Path(path).expanduser()
    if path.is_absolute():
        return path
    if root is None:
        raise DataError(
            f"dataset {dataset!r}: {str(path)!r} is relative but data.root is not set; "
            "pass data.root=/path/to/data or give absolute folders"
        )
    return root / path


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
