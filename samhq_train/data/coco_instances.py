"""data=coco's source: one sample per instance of a COCO-format json, an item as datasets.py's
paired folders give it (image, 0 / 255 mask, name <stem>_<annotation id>, dataset, where).

The json is read by user_files.read_text (a byte-order mark dropped) and indexed by pycocotools;
its entries are checked as read (coco_annotations.py: the keys, ids and sizes; the rules are
data/README.md's), each segmentation before pycocotools decodes it (coco_masks)."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from torch.utils.data import Dataset

from samhq_train.coco_masks import segmentation_problem
from samhq_train.user_files import read_text

from .coco_annotations import (
    json_size_problem,
    left_out_reason,
    no_instance_error,
    require_coco_entries,
    require_unique_ids,
)
from .image_files import DataError, EmptyMaskError, read_image, stored_size
from .pair_hints import exif_turn_hint
from .sample_keys import SampleKey
from .set_paths import check_set_dir, check_set_file, list_names

log = logging.getLogger(__name__)


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
        self.image_dir, self.annotation_file = Path(image_dir), Path(annotation_file)
        self.name = name or self.annotation_file.stem
        check_set_dir(self.image_dir, "image folder", self.name)
        check_set_file(self.annotation_file, "annotation file", self.name)
        self.coco = read_coco(self.annotation_file)
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
                f"missing from {self.image_dir}: {list_names(paths)}"
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
        """DataError when the json's size is not the file's; where the json has the size turned
        and the file an EXIF turn, the hint says so (the tool annotated the upright view)."""
        info = self.coco.imgs[key.annotation["image_id"]]
        problem = json_size_problem(info, height, width)
        if problem is not None:
            said = (info.get("height"), info.get("width"))
            turned = exif_turn_hint(said, (height, width), key.files[0])
            raise DataError(f"{self._where(key)}: {problem}{turned}")

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


def read_coco(annotation_file: Path):
    """The json read (user_files.read_text, not COCO(path): a byte-order mark dropped) and
    indexed by pycocotools; DataError naming the file where it is no COCO json."""
    from pycocotools.coco import COCO

    try:
        dataset = json.loads(read_text(annotation_file))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"{annotation_file} is not valid json ({e}); re-export it") from None
    except OSError as e:
        raise DataError(
            f"cannot read {annotation_file} ({e.strerror or e}); check its permissions"
        ) from None
    if not isinstance(dataset, dict):
        raise DataError(
            f"{annotation_file} is not COCO format (a json {type(dataset).__name__}, not "
            "an object); it needs 'images', 'annotations' and 'categories'"
        )
    coco = COCO()
    coco.dataset = dataset
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints progress
            coco.createIndex()
    except (KeyError, TypeError, AssertionError) as e:
        raise DataError(
            f"{annotation_file} is not COCO format (missing or bad {e}); it needs "
            "'images', 'annotations' and 'categories'"
        ) from None
    return coco
