"""The files of samhq-evaluate's COCO tasks read and checked before any model work: the GT json
(COCO or LVIS), a detector's detections (coco.detections) and the categories text prompts name
(coco.prompts=concept), with the image folder and CLIP's BPE merges file. Apart from the runs
(coco_runner.py, coco_concept.py) so that their refusals import no data pipeline or metric
library (evaluation/checks.py runs them)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from pycocotools.coco import COCO

from samhq_train.clip_tokenizer import ClipTokenizer
from samhq_train.evaluation.coco import load_coco, load_detections
from samhq_train.evaluation.coco_gt_fields import COCOEVAL_FIELDS, check_gt_fields
from samhq_train.evaluation.errors import EvaluationError
from samhq_train.evaluation.lvis_gt import check_gt_entries, image_file
from samhq_train.user_files import read_text

GT_KEYS = ("images", "annotations", "categories")

__all__ = ["read_coco_gt", "read_coco_inputs", "read_concept_inputs"]


def read_coco_inputs(annotation_file, image_dir, detections) -> tuple[COCO, list]:
    """(the GT, the detections list) of evaluate_coco_model, read and checked before any model
    work: EvaluationError naming the file (missing, not json, not COCO, ids the GT lacks, no
    detection) or the image folder that is not one."""
    coco_gt = read_coco_gt(annotation_file, required=COCOEVAL_FIELDS)
    check_gt_entries(coco_gt.dataset, annotation_file)  # image paths; an LVIS json's labels
    try:
        found = json.loads(read_text(detections))
    except (OSError, ValueError) as err:
        raise EvaluationError(
            f"cannot read the detections json {detections}: {_reason(err)}; give a COCO results "
            "json [{image_id, category_id, bbox, score}]"
        ) from None
    try:
        per_image = load_detections(found, coco_gt)
    except (ValueError, TypeError) as err:
        raise EvaluationError(f"{detections}: {str(err).removeprefix('detections: ')}") from None
    if not per_image:
        raise EvaluationError(f"{detections}: no detections, nothing to prompt the model with")
    check_image_files(coco_gt, image_dir, per_image, annotation_file)  # the images prompted
    return coco_gt, found


def check_image_files(coco_gt: COCO, image_dir, image_ids, annotation_file) -> None:
    """EvaluationError for an image folder that is not one, or naming the first image of
    `image_ids` whose file is not in it (found before the model, not when the run reaches it)."""
    if Path(image_dir).is_file():
        raise EvaluationError(
            f"coco.image_dir={image_dir} is a file, not a folder; give the folder that holds the "
            "json's images"
        )
    if not Path(image_dir).is_dir():
        raise EvaluationError(f"COCO image folder not found: {image_dir}")
    for image_id in image_ids:
        path = Path(image_dir) / image_file(coco_gt.imgs[image_id])
        if not path.is_file():
            raise EvaluationError(
                f"{path}: image {image_id!r} of {annotation_file} is not there; give the folder "
                "that holds the json's images (coco.image_dir)"
            )


def read_coco_gt(annotation_file, required: Sequence[str] | None = None) -> COCO:
    """The GT json read and indexed; EvaluationError naming the file when it cannot be read or
    is not a COCO GT json and, unless `required` is None (SA-Co's reader checks its entries
    itself), naming the entry and the field of one that is bad or lacks a `required` annotation
    field (coco_gt_fields.check_gt_fields)."""
    path = Path(annotation_file)
    try:
        coco = load_coco(path)
    except (OSError, ValueError) as err:  # json.JSONDecodeError is a ValueError
        raise EvaluationError(
            f"cannot read the COCO GT json {path}: {_reason(err)}; give the annotation file "
            "(e.g. annotations/instances_val2017.json)"
        ) from None
    except (KeyError, TypeError, AttributeError) as err:
        raise EvaluationError(
            f"{path} is not a COCO GT json (missing or bad {err}); it needs 'images', "
            "'annotations' and 'categories'"
        ) from None
    # pycocotools indexes what it finds: a json list or a dict without a key reads without error
    dataset = coco.dataset
    for key in GT_KEYS:
        entries = dataset.get(key) if isinstance(dataset, dict) else None
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            found = f"{key!r} missing or not a list of objects" if isinstance(dataset, dict) else (
                f"a json {type(dataset).__name__}, not an object")
            raise EvaluationError(
                f"{path} is not a COCO GT json ({found}); it needs 'images', 'annotations' and "
                "'categories'"
            )
    if required is not None:
        check_gt_fields(dataset, path, required)
    return coco


def _reason(err: Exception) -> str:
    return err.strerror if isinstance(err, OSError) and err.strerror else str(err)


def read_concept_inputs(
    annotation_file, image_dir, bpe, names: Sequence[str] | None = None
) -> tuple[COCO, dict]:
    """(the GT, {category id: name} of the categories prompted), read and checked before the
    model: EvaluationError naming the file for a GT that cannot be read, a category without a
    name, a name of `names` the GT lacks, a missing image folder (not its files: which images
    are read depends on coco.concept.per_image and exemplars); TokenizerFileError for a BPE
    merges file that is missing or not one."""
    # the detector's box row and the exemplar prompts read each GT box too
    coco_gt = read_coco_gt(annotation_file, required=(*COCOEVAL_FIELDS, "bbox"))
    check_gt_entries(coco_gt.dataset, annotation_file)  # image paths; an LVIS json's labels
    categories = {}
    for cat in coco_gt.dataset["categories"]:
        name = cat.get("name") if isinstance(cat, Mapping) else None
        if not isinstance(name, str) or not name.strip():
            raise EvaluationError(
                f"{annotation_file}: category {str(cat)[:60]} has no name; text prompts need "
                "each category's name (\"name\": \"cat\")"
            )
        categories[cat["id"]] = name
    if not categories:
        raise EvaluationError(f"{annotation_file}: no categories, nothing to prompt with")
    if names is not None:
        unknown = sorted(set(names) - set(categories.values()))
        if unknown:
            raise EvaluationError(
                f"coco.concept.categories: {unknown[:5]} are not category names of "
                f"{annotation_file} (it has e.g. {sorted(categories.values())[:5]})"
            )
        categories = {i: n for i, n in categories.items() if n in set(names)}
    # the folder; the files of the images a run asks: checks.py (concept_queries)
    check_image_files(coco_gt, image_dir, (), annotation_file)
    ClipTokenizer(bpe, vocab_size=None)  # a bad merges file: one line before the weights
    return coco_gt, categories
