"""The entries of a COCO-format GT json checked as it is read (coco_inputs.read_coco_gt): each
image's id and size, each category's id, and each annotation's ids and the fields the evaluation
reads of it, so that a bad value is one line naming the file, the entry and the field (pycocotools
and COCOeval take a json as it comes: a word for a bbox is a traceback deep in an evaluation, an
image_id that names no image or an RLE of another size a silently wrong figure)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from samhq_train.coco_masks import segmentation_problem
from samhq_train.evaluation.errors import EvaluationError
from samhq_train.evaluation.lvis_gt import is_lvis

__all__ = ["COCOEVAL_FIELDS", "check_gt_fields"]

# what COCOeval (and lvis_eval.py, which has no iscrowd) reads of every GT annotation
COCOEVAL_FIELDS = ("segmentation", "area", "iscrowd")
FIX = "; fix it in the json"


def _is_number(value) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _is_id(value) -> bool:
    return type(value) in (int, str)


def _ids(entries: Iterable[Mapping], path, key: str, what: str) -> set:
    ids = set()
    for index, entry in enumerate(entries):
        value = entry.get("id")
        if not _is_id(value):
            raise EvaluationError(
                f"{path}: {key}[{index}] has \"id\": {str(value)[:40]}; give each {what} an id "
                "(a number)"
            )
        if value in ids:
            raise EvaluationError(f"{path}: two {what}s have \"id\": {value!r}; ids are unique")
        ids.add(value)
    return ids


def _image_sizes(images: Iterable[Mapping], path) -> dict:
    """{image id: (height, width)}; EvaluationError for an image without an id, a size or a
    file name that is a path."""
    _ids(images, path, "images", "image")
    sizes = {}
    for image in images:
        size = (image.get("height"), image.get("width"))
        if not all(type(v) is int and v > 0 for v in size):
            raise EvaluationError(
                f"{path}: image {image['id']!r} has \"height\": {str(size[0])[:20]}, \"width\": "
                f"{str(size[1])[:20]}; give its size in pixels (whole numbers)"
            )
        name = image.get("file_name", "")  # none: lvis_gt.image_file reads its coco_url
        if not isinstance(name, str) or "file_name" in image and not name:
            raise EvaluationError(
                f"{path}: image {image['id']!r} has \"file_name\": {repr(name)[:40]}; give the "
                "path of its file under coco.image_dir"
            )
        sizes[image["id"]] = size
    return sizes


def _segmentation_problem(seg, size: tuple[int, int]) -> str | None:
    """Why `seg` is no COCO segmentation of an image of `size` (H, W) that pycocotools decodes as
    meant (coco_masks.segmentation_problem: a short RLE string decodes into uninitialised memory,
    a first polygon of 2 points is read as a box); None when it is one. None and [] are problems
    here: COCOeval decodes every GT annotation's segmentation."""
    if seg is None or seg == []:
        return ('"segmentation" must be polygons [[x1, y1, x2, y2, ...], ...] (numbers, in x, y '
                f'pairs) or an RLE {{"counts", "size": [height, width]}}, got {str(seg)[:40]}'
                + FIX)
    return segmentation_problem(seg, *size)


def _field_problem(ann: Mapping, key: str, size: tuple[int, int]) -> str | None:
    """Why ann[key] is not what the evaluation reads (a sentence ending in what to do), or None."""
    value = ann[key]
    if key == "segmentation":
        return _segmentation_problem(value, size)
    if key == "bbox":
        if not (isinstance(value, list) and len(value) == 4 and all(map(_is_number, value))
                and value[2] >= 0 and value[3] >= 0):
            return (f'"bbox" must be [x, y, w, h] (numbers, w and h >= 0), got '
                    f"{str(value)[:40]}" + FIX)
    elif key == "area":
        if not (_is_number(value) and value >= 0):
            return f'"area" must be a number >= 0 (pixels), got {str(value)[:40]}' + FIX
    elif key == "iscrowd" and value not in (0, 1):  # True / False are 1 / 0
        return f'"iscrowd" must be 0 or 1, got {str(value)[:40]}' + FIX
    return None


def check_gt_fields(dataset: Mapping, path, required: Iterable[str] = ()) -> None:
    """EvaluationError naming the json, the entry and the field: an image without an id or a
    size, a category without an id, an annotation without its id, an image_id or category_id the
    json does not list, a `required` field missing (iscrowd is never required of an LVIS json),
    or a segmentation, bbox, area or iscrowd (where given) that is not one."""
    sizes = _image_sizes(dataset["images"], path)
    categories = _ids(dataset["categories"], path, "categories", "category")
    needed = [k for k in required if not (k == "iscrowd" and is_lvis(dataset))]
    _ids(dataset["annotations"], path, "annotations", "annotation")
    for index, ann in enumerate(dataset["annotations"]):
        where = f"{path}: annotations[{index}] (id {ann['id']!r})"
        if not _is_id(ann.get("image_id")) or ann["image_id"] not in sizes:
            raise EvaluationError(
                f"{where} has \"image_id\": {str(ann.get('image_id'))[:40]}, which names no "
                "image of \"images\"; give the id of its image"
            )
        if not _is_id(ann.get("category_id")) or ann["category_id"] not in categories:
            raise EvaluationError(
                f"{where} has \"category_id\": {str(ann.get('category_id'))[:40]}, which names "
                "no category of \"categories\"; give the id of its category"
            )
        for key in needed:
            if key not in ann:
                raise EvaluationError(f"{where} has no \"{key}\"; the evaluation reads it")
        for key in ("segmentation", "bbox", "area", "iscrowd"):
            problem = key in ann and _field_problem(ann, key, sizes[ann["image_id"]])
            if problem:
                raise EvaluationError(f"{where}: {problem}")
