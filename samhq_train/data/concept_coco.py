"""A COCO-format detection json (Roboflow / ODinW ``_annotations.coco.json``) read and checked
for concept fine-tuning: every image x category is a query whose phrase is the category's name.

Everything read from disk is checked here, before any image is decoded: the json's structure,
each image's file (present, its header's size equal to the json's width / height), each
annotation's image and category ids, its bbox (4 finite numbers, w, h >= 0, inside the image
within BOX_SLACK pixels) and its segmentation's form (polygons, RLE of the image's size, or
none); each problem is one ConceptDataError naming the file, the entry and what to do.

The datapoints are Meta's (sam3 0.1.4, COCO_FROM_JSON + Sam3ImageDataset): images in increasing
id order, each split into chunks of ``categories_per_datapoint`` categories (in increasing id
order; None: all of them in one datapoint, the recipe's training), datapoint id = image index x
chunks + chunk; ``num_images`` keeps the first n ids after a shuffle by
``random.Random(number of ids)`` (the recipe's ``limit_ids``)."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ..coco_masks import segmentation_problem
from ..user_files import read_text
from .image_files import DataError, stored_size

__all__ = [
    "BOX_SLACK", "ConceptCoco", "ConceptDataError", "ConceptImage", "ConceptInstance",
    "concept_datapoints", "read_concept_coco",
]

# how far (pixels) a bbox may reach past the image's border: exporters round; Meta clamps
BOX_SLACK = 1.0


class ConceptDataError(DataError):
    """A problem with a concept dataset's json or images; the message names the file and key."""


@dataclass(frozen=True)
class ConceptImage:
    id: int
    path: Path
    height: int
    width: int


@dataclass(frozen=True)
class ConceptInstance:
    """One annotation: bbox [x, y, w, h] in pixels as the json gives it; segmentation the json's
    (polygons or RLE) or None."""

    category_id: int
    bbox: tuple[float, float, float, float]
    iscrowd: bool
    segmentation: object


@dataclass(frozen=True)
class ConceptCoco:
    """The checked json: images in increasing id order, categories {id: name} in increasing id
    order, instances[i] the annotations of images[i] in json order."""

    annotation_file: Path
    images: tuple[ConceptImage, ...]
    categories: dict[int, str]
    instances: tuple[tuple[ConceptInstance, ...], ...]


def _is_id(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _load_json(path: Path) -> dict:
    if not path.is_file():
        raise ConceptDataError(f"annotation file not found: {path}; check data.root and the split")
    try:
        data = json.loads(read_text(path))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ConceptDataError(f"{path} is not valid json ({err}); re-export it") from None
    except OSError as err:
        raise ConceptDataError(f"cannot read {path} ({err.strerror or err}); check its "
                               "permissions") from None
    if not isinstance(data, Mapping):
        raise ConceptDataError(f"{path}: expected a json object with 'images', 'annotations' "
                               "and 'categories'; re-export it in COCO format")
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            raise ConceptDataError(f"{path}: '{key}' is missing or not a list; a COCO json needs "
                                   "'images', 'annotations' and 'categories'")
    return data


def _read_categories(path: Path, entries: list) -> dict[int, str]:
    categories: dict[int, str] = {}
    for i, cat in enumerate(entries):
        where = f"{path}: categories[{i}]"
        if not isinstance(cat, Mapping) or not _is_id(cat.get("id")):
            raise ConceptDataError(f"{where} needs an integer 'id'; fix the json")
        name = cat.get("name")
        if not isinstance(name, str) or not name.strip():
            raise ConceptDataError(f"{where} (id {cat['id']}) has an empty 'name'; the name is "
                                   "the text prompt: give each category a noun phrase")
        if cat["id"] in categories:
            raise ConceptDataError(f"{where}: category id {cat['id']} appears twice; fix the json")
        categories[cat["id"]] = name
    if not categories:
        raise ConceptDataError(f"{path}: 'categories' is empty; nothing to prompt with")
    return dict(sorted(categories.items()))


def _read_image(path: Path, image_dir: Path, i: int, entry) -> ConceptImage:
    where = f"{path}: images[{i}]"
    if not isinstance(entry, Mapping) or not _is_id(entry.get("id")):
        raise ConceptDataError(f"{where} needs an integer 'id'; fix the json")
    name = entry.get("file_name")
    if not isinstance(name, str) or not name:
        raise ConceptDataError(f"{where} (id {entry['id']}) has no 'file_name'; fix the json")
    height, width = entry.get("height"), entry.get("width")
    if not (_is_id(height) and _is_id(width) and height > 0 and width > 0):
        raise ConceptDataError(f"{where} ({name}): 'width' and 'height' must be positive "
                               f"integers, got {width!r} x {height!r}; fix the json")
    file = image_dir / name
    if not file.is_file():
        raise ConceptDataError(f"{where}: image file not found: {file}; add it or remove the "
                               "entry (and its annotations) from the json")
    if stored_size(file) != (height, width):
        stored_h, stored_w = stored_size(file)
        raise ConceptDataError(f"{where}: the json says {width}x{height} but {file} is "
                               f"{stored_w}x{stored_h} (WxH); fix the json or the image")
    return ConceptImage(entry["id"], file, height, width)


def _check_segmentation(where: str, segmentation, image: ConceptImage) -> object:
    """The segmentation as stored (None for none); ConceptDataError for a malformed one."""
    problem = segmentation_problem(segmentation, image.height, image.width)
    if problem is not None:
        raise ConceptDataError(f"{where}: {problem}")
    if segmentation is None or segmentation == []:
        return None
    return segmentation if isinstance(segmentation, list) else dict(segmentation)


def _read_instance(path: Path, i: int, ann, images: dict, categories: dict) -> tuple:
    where = f"{path}: annotations[{i}]"
    if not isinstance(ann, Mapping):
        raise ConceptDataError(f"{where} is not a json object; fix the json")
    where += f" (id {ann.get('id')})"
    image = images.get(ann.get("image_id")) if _is_id(ann.get("image_id")) else None
    if image is None:
        raise ConceptDataError(f"{where}: image_id {ann.get('image_id')!r} is not in 'images'; "
                               "fix the json")
    if not _is_id(ann.get("category_id")) or ann["category_id"] not in categories:
        raise ConceptDataError(f"{where}: category_id {ann.get('category_id')!r} is not in "
                               "'categories'; fix the json")
    box = ann.get("bbox")
    if not (isinstance(box, list) and len(box) == 4 and all(_is_number(v) for v in box)):
        raise ConceptDataError(f"{where}: 'bbox' must be 4 numbers [x, y, w, h] in pixels, got "
                               f"{str(box)[:60]}; fix the json")
    x, y, w, h = box
    if w < 0 or h < 0 or x < -BOX_SLACK or y < -BOX_SLACK or x + w > image.width + BOX_SLACK \
            or y + h > image.height + BOX_SLACK:
        raise ConceptDataError(f"{where}: bbox {box} (x, y, w, h) is not inside its "
                               f"{image.width}x{image.height} image {image.path.name}; fix the "
                               "json")
    crowd = ann.get("iscrowd", 0)
    if crowd not in (0, 1):  # True / False compare equal to 1 / 0
        raise ConceptDataError(f"{where}: 'iscrowd' must be 0 or 1, got {crowd!r}; fix the json")
    segmentation = _check_segmentation(where, ann.get("segmentation"), image)
    bbox = (float(x), float(y), float(w), float(h))
    return image.id, ConceptInstance(ann["category_id"], bbox, bool(crowd), segmentation)


def read_concept_coco(annotation_file: str | Path, image_dir: str | Path) -> ConceptCoco:
    """The json and its images' headers read and checked (ConceptDataError naming the file,
    the entry and what to do); no image is decoded."""
    path, image_dir = Path(annotation_file), Path(image_dir)
    data = _load_json(path)
    if not image_dir.is_dir():
        raise ConceptDataError(f"image folder not found: {image_dir} (the images of {path})")
    categories = _read_categories(path, data["categories"])
    images: dict[int, ConceptImage] = {}
    for i, entry in enumerate(data["images"]):
        image = _read_image(path, image_dir, i, entry)
        if image.id in images:
            raise ConceptDataError(f"{path}: images[{i}]: image id {image.id} appears twice; "
                                   "fix the json")
        images[image.id] = image
    if not images:
        raise ConceptDataError(f"{path}: 'images' is empty; nothing to train on")
    per_image: dict[int, list[ConceptInstance]] = {i: [] for i in images}
    for i, ann in enumerate(data["annotations"]):
        image_id, instance = _read_instance(path, i, ann, images, categories)
        per_image[image_id].append(instance)
    order = sorted(images)
    return ConceptCoco(
        path, tuple(images[i] for i in order), categories,
        tuple(tuple(per_image[i]) for i in order),
    )


def concept_datapoints(
    coco: ConceptCoco,
    *,
    categories_per_datapoint: int | None = None,
    include_negatives: bool = True,
    num_images: int | None = None,
) -> list[tuple[int, tuple[int, ...]]]:
    """[(image index, the category ids it is queried with)] in Meta's datapoint order. Without
    include_negatives a datapoint lists only the categories its image has instances of, and a
    datapoint left without any is dropped (Meta's loader would serve the next one instead)."""
    category_ids = list(coco.categories)
    chunk = categories_per_datapoint or len(category_ids)
    chunks = [tuple(category_ids[i:i + chunk]) for i in range(0, len(category_ids), chunk)]
    ids = list(range(len(coco.images) * len(chunks)))
    if num_images is not None:
        random.Random(len(ids)).shuffle(ids)
        ids = ids[:num_images]
    datapoints = []
    for datapoint_id in ids:
        image_index, chunk_index = divmod(datapoint_id, len(chunks))
        queried = chunks[chunk_index]
        if not include_negatives:
            present = {inst.category_id for inst in coco.instances[image_index]}
            queried = tuple(c for c in queried if c in present)
        if queried:
            datapoints.append((image_index, queried))
    if not datapoints:
        raise ConceptDataError(f"{coco.annotation_file}: no image has an annotation; with "
                               "include_negatives off there is nothing to train on")
    return datapoints
