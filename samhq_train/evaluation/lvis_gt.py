"""LVIS GT jsons among COCO-format ones: how one is told apart, checked, and where its images are.

An LVIS json (v1) is COCO's format plus the federated labels: each image's
``neg_category_ids`` (verified absent) and ``not_exhaustive_category_ids``, each category's
``frequency`` (r / c / f). A json with any of these keys is read as LVIS and scored with LVIS's
federated AP (lvis_eval.py). Its images carry no ``file_name`` but a ``coco_url``; the file is
the URL's last two parts under the image folder (``.../val2017/000000397133.jpg`` ->
``<image_dir>/val2017/000000397133.jpg``: detectron2's rule for LVIS, whose val set draws
images from COCO's train2017 and val2017), so the image folder is COCO's root.
"""

from __future__ import annotations

from collections.abc import Mapping

from samhq_train.evaluation.errors import EvaluationError
from samhq_train.evaluation.lvis_eval import FREQUENCIES, LVIS_MAX_DETECTIONS

__all__ = ["check_gt_entries", "image_file", "is_lvis", "max_detections_of"]

COCO_MAX_DETECTIONS = 100  # per image: COCOeval's limit
IMAGE_LABEL_KEYS = ("neg_category_ids", "not_exhaustive_category_ids")


def is_lvis(dataset: Mapping) -> bool:
    """Whether a GT json carries LVIS's federated labels (any image's or category's)."""
    return any(k in image for image in dataset.get("images", []) for k in IMAGE_LABEL_KEYS) or any(
        "frequency" in cat for cat in dataset.get("categories", [])
    )


def image_file(info: Mapping) -> str:
    """An image's path under the image folder: its ``file_name``, else the last two parts of its
    ``coco_url`` (split folder / file)."""
    if "file_name" in info:
        return info["file_name"]
    return "/".join(str(info["coco_url"]).split("/")[-2:])


def check_gt_entries(dataset: Mapping, annotation_file) -> None:
    """EvaluationError naming the json and the key: an image with neither ``file_name`` nor
    ``coco_url``; in an LVIS json, an image without its federated lists or a category without a
    ``frequency`` of r, c or f."""
    for image in dataset["images"]:
        if "file_name" not in image and "coco_url" not in image:
            raise EvaluationError(
                f"{annotation_file}: image {image.get('id')} has neither \"file_name\" nor "
                "\"coco_url\"; give each image the path of its file under coco.image_dir"
            )
    if not is_lvis(dataset):
        return
    for image in dataset["images"]:
        for key in IMAGE_LABEL_KEYS:
            if not isinstance(image.get(key), list):
                raise EvaluationError(
                    f"{annotation_file}: image {image.get('id')} has no \"{key}\" list; an LVIS "
                    f"json (it has {'/'.join(IMAGE_LABEL_KEYS)} or category frequencies) needs "
                    "both lists on every image for its federated AP"
                )
    for cat in dataset["categories"]:
        if cat.get("frequency") not in FREQUENCIES:
            raise EvaluationError(
                f"{annotation_file}: category {cat.get('id')} ({cat.get('name')}) has "
                f"\"frequency\": {cat.get('frequency')!r}; LVIS AP needs r, c or f on every "
                "category (APr / APc / APf)"
            )


def max_detections_of(setting: int | None, dataset: Mapping) -> int:
    """coco.max_detections, null resolved to the GT's protocol: LVIS 300, COCO 100."""
    if setting is not None:
        return int(setting)
    return LVIS_MAX_DETECTIONS if is_lvis(dataset) else COCO_MAX_DETECTIONS
