"""The annotations of a data=coco json sorted before any image is read: which are samples, why
the others are not (a phrase each, counted), and the refusals pycocotools' index would hide; an
image entry's size against its file's."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .image_files import DataError

__all__ = [
    "json_size_problem", "left_out_reason", "no_instance_error", "require_coco_entries",
    "require_unique_ids",
]

NO_SEGMENTATION_HINT = (
    "data=coco trains on segmentations (polygons or RLE); a detection export (boxes only) has none"
)


def require_coco_entries(dataset: Mapping, annotation_file: Path) -> None:
    """DataError for what pycocotools' index takes without a word and the set would meet as a
    traceback: 'images', 'annotations' or 'categories' missing or not a list of objects, an
    image without a 'file_name'."""
    for key in ("images", "annotations", "categories"):
        entries = dataset.get(key)
        if not isinstance(entries, list) or not all(isinstance(e, Mapping) for e in entries):
            raise DataError(f"{annotation_file}: '{key}' is missing or not a list of objects; a "
                            "COCO json needs 'images', 'annotations' and 'categories'")
    for index, image in enumerate(dataset["images"]):
        name = image.get("file_name")
        if not isinstance(name, str) or not name:
            raise DataError(f"{annotation_file}: images[{index}] (id {image.get('id')!r}) has "
                            f"'file_name': {str(name)[:40]}; give the path of its file in the "
                            "image folder")


def require_unique_ids(annotations: list, annotation_file: Path) -> None:
    """DataError for two annotations with one id: pycocotools indexes them by id and keeps the
    last, so the first would be left out without a word."""
    first: dict = {}
    for index, ann in enumerate(annotations):
        if ann["id"] in first:
            raise DataError(
                f"{annotation_file}: annotations[{first[ann['id']]}] and annotations[{index}] "
                f"both have the id {ann['id']!r} (one would be dropped); give each annotation "
                "its own id"
            )
        first[ann["id"]] = index


def left_out_reason(
    ann: Mapping, annotation_file: Path, keep_cats, min_area: float, include_crowd: bool
) -> str | None:
    """Why `ann` is not a sample (a phrase), or None when it is one; DataError for an area
    that is not a number."""
    crowd = ann.get("iscrowd", 0)
    if crowd not in (0, 1):  # True / False compare equal to 1 / 0
        raise DataError(f"{annotation_file}: annotation {ann['id']}: 'iscrowd' must be 0 or 1, "
                        f"got {str(crowd)[:40]!r}; fix the json")
    if crowd and not include_crowd:
        return "crowd"
    if keep_cats is not None and ann.get("category_id") not in keep_cats:
        return "of other categories"
    if not ann.get("segmentation"):
        return "without a segmentation"
    area = ann.get("area")
    if area is not None and not (isinstance(area, int | float) and not isinstance(area, bool)):
        raise DataError(f"{annotation_file}: annotation {ann['id']}: 'area' must be a "
                        f"number of pixels, got {str(area)[:40]}; fix the json")
    if area is not None and area < min_area:
        return f"under min_area={min_area:g}"
    return None



def no_instance_error(name: str, annotation_file: Path, total: int, counts: str,
                      no_segmentation: bool) -> DataError:
    """The refusal of a set none of whose `total` annotations is a sample; `counts` says why."""
    hint = NO_SEGMENTATION_HINT if no_segmentation else "lower min_area or check the file"
    return DataError(f"{name}: no usable instance in {annotation_file} (of its {total} "
                     f"annotations: {counts or 'none'}); {hint}")


def json_size_problem(info: Mapping, height: int, width: int) -> str | None:
    """What is wrong with an 'images' entry's size for a file of height x width (a sentence ending
    in what to do), None when they agree."""
    said = (info.get("height"), info.get("width"))
    if None in said:  # pycocotools draws polygons on the json's size
        return (f"its image's entry in 'images' has no 'width' and 'height'; add them ({width} "
                f"and {height} for this file)")
    if said != (height, width):
        return (f"the json says {said[1]}x{said[0]} but the image is {width}x{height} (WxH); fix "
                "the json or the image")
    return None
