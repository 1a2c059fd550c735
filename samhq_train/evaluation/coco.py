"""COCO instance evaluation: mask AP and boundary AP through pycocotools' COCOeval.

Boundary AP (Cheng et al., CVPR 2021) is COCO AP with the mask IoU of every non-crowd
GT/prediction pair replaced by min(mask IoU, boundary IoU); crowd GT keep pycocotools' crowd
mask IoU (intersection over the prediction's area). Boundaries are taken on full-image masks,
so their width d depends on the image diagonal, as in :func:`metrics.boundary_dilation`.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pycocotools.mask as mask_utils
import torch
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from samhq_train.coco_masks import compressed_rle, decode_mask, encode_mask
from samhq_train.constants import BOUNDARY_DILATION_RATIO
from samhq_train.evaluation.metrics import mask_to_boundary
from samhq_train.files import atomic_write_text
from samhq_train.user_files import read_text

__all__ = [
    "BoundaryCOCOeval",
    "boundary_rles",
    "decode_mask",
    "encode_mask",
    "evaluate_boxes",
    "evaluate_coco",
    "load_coco",
    "load_detections",
    "to_coco_results",
    "write_results_json",
]

# Names of COCOeval.stats[0:6], the AP part of its summary.
AP_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl")


def load_coco(gt: str | os.PathLike | Mapping | COCO) -> COCO:
    """A COCO object from a GT json path, a loaded json dict, or a COCO object (returned as is)."""
    if isinstance(gt, COCO):
        return gt
    coco = COCO()
    if isinstance(gt, Mapping):
        coco.dataset = copy.deepcopy(dict(gt))  # COCOeval rewrites GT segmentations in place
    else:
        coco.dataset = json.loads(read_text(gt))
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _check_ids(entries: Sequence[Mapping], coco_gt: COCO, what: str) -> None:
    image_ids = {e["image_id"] for e in entries}
    missing = sorted(image_ids - set(coco_gt.getImgIds()), key=str)
    if missing:
        raise ValueError(
            f"{what}: {len(missing)} image id(s) are not in the GT json, e.g. {missing[:5]}; "
            "are the detections and the GT from the same split?"
        )
    categories = {e["category_id"] for e in entries}
    missing = sorted(categories - set(coco_gt.getCatIds()), key=str)
    if missing:
        raise ValueError(f"{what}: category id(s) {missing[:5]} are not in the GT json")


def _number(value) -> float | None:
    """A json number (or a string of one) as a finite float; None for anything else (a word, a
    list, a bool, NaN, inf)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if np.isfinite(number) else None


def _read_detection(det, where: str) -> dict:
    """One detection entry checked and read (`where` names it: "<file>: detection <i>")."""
    if not isinstance(det, Mapping):
        raise ValueError(f"{where} is not a json object: {str(det)[:60]}")
    missing = {"image_id", "category_id", "bbox", "score"} - set(det)
    if missing:
        raise ValueError(f"{where} lacks {sorted(missing)}")
    box = det["bbox"]
    values = [_number(v) for v in box] if isinstance(box, list) else []
    if len(values) != 4 or None in values:
        raise ValueError(f"{where}: bbox must be 4 numbers [x, y, w, h], got {str(box)[:60]}")
    x, y, w, h = values
    if w < 0 or h < 0:
        raise ValueError(f"{where} has a negative box size {box}")
    score = _number(det["score"])
    if score is None:
        raise ValueError(f"{where}: score must be a number, got {str(det['score'])[:60]}")
    for key in ("image_id", "category_id"):
        if not isinstance(det[key], (int, str)) or isinstance(det[key], bool):
            raise ValueError(f"{where}: {key} must be an id (a number), got {str(det[key])[:60]}")
    return {
        "image_id": det["image_id"],
        "category_id": det["category_id"],
        "score": score,
        "bbox": [x, y, w, h],
        "box_xyxy": [x, y, x + w, y + h],
    }


def load_detections(
    detections: str | os.PathLike | Sequence[Mapping], coco_gt: str | os.PathLike | Mapping | COCO
) -> dict[int, list[dict]]:
    """Detector boxes (COCO results format) to use as box prompts, grouped by image.

    Args:
        detections: path to a json list (or the list itself) of
            ``{"image_id", "category_id", "bbox": [x, y, w, h], "score"}``.
        coco_gt: the GT the detections belong to (path, dict or COCO).

    Returns:
        ``{image_id: [{"image_id", "category_id", "score", "bbox", "box_xyxy"}, ...]}`` with each
        list sorted by decreasing score; images without detections are absent.

    Raises:
        ValueError: malformed entries, or image / category ids that the GT does not have.
    """
    name = str(detections) if isinstance(detections, (str, os.PathLike)) else "detections"
    if isinstance(detections, (str, os.PathLike)):
        detections = json.loads(read_text(detections))
    if not isinstance(detections, list):
        raise ValueError(f"{name}: expected a json list of detections, got {type(detections)}")
    coco_gt = load_coco(coco_gt)
    out: dict[int, list[dict]] = defaultdict(list)
    for i, det in enumerate(detections):
        entry = _read_detection(det, f"{name}: detection {i}")
        out[entry["image_id"]].append(entry)
    _check_ids(detections, coco_gt, name)
    for dets in out.values():
        dets.sort(key=lambda d: -d["score"])
    return dict(out)


def to_coco_results(predictions: Sequence[Mapping], coco_gt: COCO) -> list[dict]:
    """Predictions -> COCO segmentation results (json-serialisable; no "bbox" key, so that
    pycocotools takes the mask area, not the box area, for the small/medium/large split).

    Args:
        predictions: dicts with ``image_id``, ``category_id``, ``score`` and ``segmentation``:
            a COCO RLE dict or a binary mask H x W (numpy or torch) at the GT image's size.
        coco_gt: the GT (its image sizes and ids are checked).
    """
    predictions = list(predictions)
    _check_ids(predictions, coco_gt, "predictions")
    results = []
    for i, pred in enumerate(predictions):
        img = coco_gt.imgs[pred["image_id"]]
        size = (img["height"], img["width"])
        seg = pred["segmentation"]
        if isinstance(seg, Mapping):
            seg = compressed_rle(seg)
            shape = tuple(seg["size"])
        else:
            shape = tuple(seg.shape)
            if shape == size:
                seg = encode_mask(seg)
        if shape != size:
            raise ValueError(
                f"prediction {i} (image {pred['image_id']}): mask of size {shape} but the GT image "
                f"is {size}"
            )
        results.append(
            {
                "image_id": pred["image_id"],
                "category_id": pred["category_id"],
                "segmentation": seg,
                "score": float(pred["score"]),
            }
        )
    return results


def write_results_json(results: Sequence[Mapping], path: str | os.PathLike) -> None:
    """Write :func:`to_coco_results` output as a COCO results json."""
    atomic_write_text(path, json.dumps(list(results)))


def _load_results(coco_gt: COCO, results: list[dict]) -> COCO:
    if results:
        with contextlib.redirect_stdout(io.StringIO()):
            return coco_gt.loadRes(results)
    # pycocotools' loadRes cannot take an empty list: no predictions, every GT missed.
    coco_dt = COCO()
    coco_dt.dataset = {
        "images": list(coco_gt.dataset["images"]),
        "categories": list(coco_gt.dataset["categories"]),
        "annotations": [],
    }
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt.createIndex()
    return coco_dt


def boundary_rles(rles: Sequence[Mapping], dilation_ratio: float) -> list[dict]:
    """The boundary bands (metrics.mask_to_boundary) of same-sized masks given as compressed
    RLEs, as compressed RLEs: boundary AP's regions, COCO's (BoundaryCOCOeval) and LVIS's."""
    masks = torch.from_numpy(mask_utils.decode(list(rles))).bool()
    boundaries = mask_to_boundary(masks.permute(2, 0, 1), dilation_ratio)
    return mask_utils.encode(
        np.asfortranarray(boundaries.permute(1, 2, 0).numpy().astype(np.uint8))
    )


class BoundaryCOCOeval(COCOeval):
    """COCOeval whose IoU is min(mask IoU, boundary IoU) for non-crowd GT (boundary AP).

    Everything else (matching, crowd and area handling, accumulation, summary) is pycocotools'
    'segm' evaluation; ``params.iouType`` stays 'segm' so that its machinery runs unchanged.
    """

    def __init__(self, cocoGt: COCO, cocoDt: COCO, dilation_ratio: float = BOUNDARY_DILATION_RATIO):
        super().__init__(cocoGt, cocoDt, iouType="segm")
        self.dilation_ratio = dilation_ratio

    def _selected(self, imgId, catId) -> tuple[list[dict], list[dict]]:
        """The GT and predictions that ``COCOeval.computeIoU`` compares, in its order."""
        p = self.params
        if p.useCats:
            gt, dt = self._gts[imgId, catId], self._dts[imgId, catId]
        else:
            gt = [g for c in p.catIds for g in self._gts[imgId, c]]
            dt = [d for c in p.catIds for d in self._dts[imgId, c]]
        order = np.argsort([-d["score"] for d in dt], kind="mergesort")
        return gt, [dt[i] for i in order][: p.maxDets[-1]]

    def computeIoU(self, imgId, catId):  # noqa: N802 (pycocotools' name)
        mask_ious = super().computeIoU(imgId, catId)
        if len(mask_ious) == 0:
            return mask_ious
        gt, dt = self._selected(imgId, catId)
        crowd = np.array([bool(g["iscrowd"]) for g in gt])
        if crowd.all():
            return mask_ious
        rles = boundary_rles([g["segmentation"] for g, c in zip(gt, crowd) if not c]
                             + [d["segmentation"] for d in dt], self.dilation_ratio)
        n_gt = int((~crowd).sum())
        boundary_ious = mask_utils.iou(rles[n_gt:], rles[:n_gt], [0] * n_gt)
        ious = np.array(mask_ious, dtype=np.float64)
        ious[:, ~crowd] = np.minimum(ious[:, ~crowd], boundary_ious)
        return ious


def _run(evaluator: COCOeval, verbose: bool) -> dict[str, float]:
    out = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
    with out:
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    return {
        name: float("nan") if value == -1 else float(value)
        for name, value in zip(AP_NAMES, evaluator.stats[: len(AP_NAMES)])
    }


def evaluate_coco(
    gt: str | os.PathLike | Mapping | COCO,
    predictions: Sequence[Mapping[str, Any]],
    *,
    dilation_ratio: float = BOUNDARY_DILATION_RATIO,
    category_ids: Sequence | None = None,
    verbose: bool = False,
) -> dict[str, float]:
    """Mask AP and boundary AP of instance predictions against a COCO GT.

    Args:
        gt: GT json path, loaded dict or COCO object.
        predictions: dicts ``{"image_id", "category_id", "segmentation", "score"}``, the
            segmentation being a COCO RLE or a binary mask H x W at the GT image size.
        dilation_ratio: boundary width as a fraction of the image diagonal (boundary AP).
        category_ids: the categories averaged over (COCOeval's params.catIds); None: all of the
            GT (a subset leaves the others' GT and predictions out of every figure).
        verbose: print pycocotools' summaries.

    Returns:
        ``mask_AP, mask_AP50, mask_AP75, mask_APs, mask_APm, mask_APl`` and the same with
        ``boundary_``: COCOeval's numbers (fractions in [0, 1], not percent); NaN where the GT
        has no object of that size (COCOeval's -1). With no predictions every AP is 0.
    """
    coco_gt = load_coco(gt)
    results = to_coco_results(predictions, coco_gt)
    metrics: dict[str, float] = {}
    for prefix, make in (
        ("mask", lambda dt: COCOeval(coco_gt, dt, iouType="segm")),
        ("boundary", lambda dt: BoundaryCOCOeval(coco_gt, dt, dilation_ratio)),
    ):
        # loadRes annotates the result dicts in place: give each evaluation its own copies.
        coco_dt = _load_results(coco_gt, [dict(r) for r in results])
        evaluator = make(coco_dt)
        if category_ids is not None:
            evaluator.params.catIds = sorted(category_ids)
        for name, value in _run(evaluator, verbose).items():
            metrics[f"{prefix}_{name}"] = value
    return metrics


def evaluate_boxes(
    gt: str | os.PathLike | Mapping | COCO,
    predictions: Sequence[Mapping[str, Any]],
    *,
    category_ids: Sequence | None = None,
    image_ids: Sequence | None = None,
    verbose: bool = False,
) -> dict[str, float]:
    """Box AP of detections against a COCO GT (COCOeval's 'bbox' evaluation, as Meta's SAM 3
    detection evaluators run it). predictions: dicts ``{"image_id", "category_id", "score",
    "bbox": [x, y, width, height]}`` in GT image pixels; category_ids as evaluate_coco's;
    image_ids: score only these images (None: every image of the GT).
    Returns ``box_AP, box_AP50, box_AP75, box_APs, box_APm, box_APl`` (fractions; NaN where the
    GT has no object of that size). With no predictions every AP is 0."""
    coco_gt = load_coco(gt)
    predictions = list(predictions)
    _check_ids(predictions, coco_gt, "predictions")
    results = [
        {"image_id": p["image_id"], "category_id": p["category_id"], "score": float(p["score"]),
         "bbox": [float(v) for v in p["bbox"]]}
        for p in predictions
    ]
    evaluator = COCOeval(coco_gt, _load_results(coco_gt, results), iouType="bbox")
    if category_ids is not None:
        evaluator.params.catIds = sorted(category_ids)
    if image_ids is not None:
        evaluator.params.imgIds = sorted(image_ids)
    return {f"box_{name}": value for name, value in _run(evaluator, verbose).items()}
