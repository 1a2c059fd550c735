"""Which COCO evaluation a samhq-evaluate config asks for (``coco.*``: box prompts from a
detector's detections, SAM 3's text / exemplar prompts scored with AP, or an SA-Co json scored
with cgF1) and the checks of its keys, before any file is read (entry.py runs it)."""

from __future__ import annotations

from omegaconf import OmegaConf

from samhq_train.constants import SAM3_DETECTOR_FILES
from samhq_train.evaluation.errors import EvaluationError
from samhq_train.evaluation.saco_metrics import CGF1_THRESHOLD
from samhq_train.model import VARIANTS, family_of_variant


def plain(node):
    """A config node as plain Python values (anything else as it is)."""
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def coco_task(cfg) -> str | None:
    """Which COCO evaluation runs: "boxes" (coco.detections given), "concept"
    (coco.prompts=concept: AP), "saco" (coco.prompts=concept coco.concept.metric=cgf1) or
    None."""
    coco_cfg = cfg.get("coco") or {}
    if coco_cfg.get("prompts") == "concept":
        return "saco" if OmegaConf.select(coco_cfg, "concept.metric") == "cgf1" else "concept"
    return "boxes" if coco_cfg.get("detections") else None


def concept_threshold(coco_cfg) -> float:
    """coco.concept.threshold, null resolved to its metric's protocol: every query for AP (0),
    CGF1Eval's operating point for cgF1 (0.5)."""
    threshold = OmegaConf.select(coco_cfg, "concept.threshold")
    if threshold is None:
        return CGF1_THRESHOLD if coco_cfg.concept.get("metric") == "cgf1" else 0.0
    return float(threshold)


def _check_concept_task(cfg) -> None:
    """coco.prompts=concept: its files named, no box detections, a SAM 3 model where the config
    names the variant (a file's family is known once it is read: NoDetectorError then)."""
    coco_cfg = cfg.coco
    missing = [k for k in ("annotation_file", "image_dir", "concept.bpe")
               if not OmegaConf.select(coco_cfg, k)]
    if missing:
        raise EvaluationError(
            f"coco.prompts=concept needs coco.{missing[0]}: give the GT json with category names "
            "(coco.annotation_file=...), its images (coco.image_dir=...) and CLIP's BPE merges "
            "file (coco.concept.bpe=/path/bpe_simple_vocab_16e6.txt.gz)"
        )
    if coco_cfg.get("detections"):
        raise EvaluationError(
            "coco.detections is for coco.prompts=boxes; with coco.prompts=concept SAM 3's "
            "detector finds the boxes: leave coco.detections out"
        )
    files = plain(coco_cfg.annotation_file)
    if coco_task(cfg) == "saco":
        _check_saco_keys(coco_cfg)
    elif not isinstance(files, str):
        raise EvaluationError(
            f"coco.annotation_file={files}: COCO AP reads one GT json; a list (an SA-Co subset's "
            "annotator files) is for coco.concept.metric=cgf1"
        )
    elif coco_cfg.concept.exemplars != "none" and coco_cfg.concept.per_image != "all":
        raise EvaluationError(
            f"coco.concept.per_image={coco_cfg.concept.per_image} with coco.concept.exemplars="
            f"{coco_cfg.concept.exemplars}: exemplar prompts ask only the categories an image has "
            "instances of (Meta's positive split); leave coco.concept.per_image out"
        )
    variant = cfg.model.get("variant")
    family = family_of_variant(variant).name if variant in VARIANTS else None
    if family not in (None, "sam3"):
        raise EvaluationError(
            f"coco.prompts=concept: model.variant={variant} is a {family} model; text prompts "
            "need a SAM 3 checkpoint with its concept detector (model=sam3_hq, "
            f"model.checkpoint: {SAM3_DETECTOR_FILES})"
        )


def _check_saco_keys(coco_cfg) -> None:
    """coco.concept.metric=cgf1: the SA-Co json's pairs are the prompts, so the keys that choose
    COCO categories are refused rather than ignored."""
    files = plain(coco_cfg.annotation_file)
    if not isinstance(files, str) and not (
        isinstance(files, list) and files and all(isinstance(f, str) and f for f in files)
    ):
        raise EvaluationError(
            f"coco.annotation_file={files}: give an SA-Co json, or a subset's annotator files "
            "as a list (coco.annotation_file=[gold_x_a.json,gold_x_b.json,gold_x_c.json])"
        )
    if coco_cfg.concept.get("categories") is not None:
        raise EvaluationError(
            "coco.concept.categories chooses COCO categories; with coco.concept.metric=cgf1 "
            "each (image, noun phrase) pair of the SA-Co json is prompted: leave it out"
        )
    if coco_cfg.concept.get("per_image") != "all":
        raise EvaluationError(
            f"coco.concept.per_image={coco_cfg.concept.per_image} chooses COCO categories per "
            "image; with coco.concept.metric=cgf1 each pair of the SA-Co json is prompted: "
            "leave it out"
        )
    if coco_cfg.concept.get("exemplars") != "none":
        raise EvaluationError(
            f"coco.concept.exemplars={coco_cfg.concept.exemplars} asks COCO categories with GT "
            "boxes (COCO AP); with coco.concept.metric=cgf1 each pair of the SA-Co json is "
            "prompted by its phrase: leave it out"
        )


def check_coco_task(cfg) -> None:
    """EvaluationError, before any work, for a COCO task (coco_task) that lacks a file or a
    setting it needs or has one it would ignore."""
    coco_cfg = cfg.coco
    if coco_task(cfg) in ("concept", "saco"):
        _check_concept_task(cfg)
        return
    missing = [k for k in ("annotation_file", "image_dir") if not coco_cfg.get(k)]
    if missing:
        raise EvaluationError(
            f"coco.detections is set but coco.{missing[0]} is not: give the GT json "
            "(coco.annotation_file=...) and the image folder (coco.image_dir=...)"
        )


__all__ = ["check_coco_task", "coco_task", "concept_threshold", "plain"]
