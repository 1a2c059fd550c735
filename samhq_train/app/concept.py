"""The app's text-prompt mode (samhq-app --bpe FILE with a SAM 3 checkpoint that holds the concept
detector): every instance of a noun phrase in the open image, from ConceptPredictor, optionally
shown example / counter-example boxes; the masks are the HQ decoder's for each found box.

A request is {image_id, text, exemplars: [{box: [x0, y0, x1, y1], label: 1 | 0}], threshold};
the answer is ConceptPredictor.predict's, unchanged. A new threshold runs predict again (its
selection and the HQ refinement happen inside predict); answers are kept per request, so moving
the slider back costs nothing. Saving writes samhq-concept's layout (its write_result) under a
stem that no earlier save took: <stem>_concept[_N].json, <stem>_concept[_N]_masks/NNNN.png,
<stem>_concept[_N]_overlay.png.
"""

from __future__ import annotations

import argparse
import math
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

from samhq_train.clip_tokenizer import TokenizerFileError
from samhq_train.constants import SAM3_DETECTOR_FILES
from samhq_train.inference.concept import (
    NO_DETECTOR,
    ConceptInstances,
    ConceptPredictor,
    file_without_detector,
)
from samhq_train.inference.concept_command import write_result
from samhq_train.model import CheckpointError, inspect
from samhq_train.model.sam3.concept.detector import NoDetectorError

from .engine import KEPT_IMAGES, AppError, ImageNotLoaded, free_stem, safe_stem

CONCEPT_SAVE = (".json", "_masks", "_overlay.png")  # after the stem: what a save writes

KEPT_ANSWERS = 64  # concept answers kept (per request: image, text, exemplars, threshold)
KEPT_MASK_BYTES = 2**30  # and their masks at most this much (the newest answer is always kept)
MAX_TEXT = 500  # characters of a text prompt (the tokenizer keeps the first 32 tokens anyway)
MAX_EXEMPLARS = 20
DEFAULT_THRESHOLD = 0.5  # Meta's Sam3Processor default
NEEDS_DETECTOR = (
    f"text prompts need a SAM 3 checkpoint with its concept detector ({SAM3_DETECTOR_FILES})"
)


def check_bpe(path: str | None) -> Path | None:
    """--bpe as a path (None without it); one AppError line when it is not a file, before the
    checkpoint is read (its contents are checked against the model's text encoder after)."""
    if path is None:
        return None
    bpe = Path(path).expanduser()
    if not bpe.is_file():
        problem = "is not a file" if bpe.exists() else "does not exist"
        raise AppError(
            f"--bpe {bpe} {problem}; give the path of the SAM 3 text tokenizer's merges file "
            "(Meta's bpe_simple_vocab_16e6.txt.gz, in its sam3 repository's assets/)"
        )
    return bpe


def check_detector_file(checkpoint: Path, format: str | None, base: str | None) -> None:
    """With --bpe: a checkpoint of another family than SAM 3, or a SAM 3 one (or the --base of an
    HQ-only one) whose key names show no concept detector, is one AppError line from the file's
    header, before a model is built; what the header does not tell, concept_predictor words after
    loading (a file that cannot be inspected: the loader)."""
    try:
        info = inspect(checkpoint, format)
    except CheckpointError:
        return
    if info.family is not None and info.family != "sam3":
        raise AppError(
            f"--bpe with {checkpoint.name}: it holds a {info.variant or info.family} model "
            f"({info.family} family); {NEEDS_DETECTOR}; or drop --bpe"
        )
    lacking = file_without_detector(info, base)
    if lacking is not None:
        raise AppError(
            f"--bpe with {lacking.name}: it {NO_DETECTOR}; {NEEDS_DETECTOR}; or drop --bpe"
        )


def concept_predictor(model, bpe: Path, checkpoint: Path) -> ConceptPredictor:
    """The text mode's predictor on the app's model; AppError when --bpe was given for a
    checkpoint that cannot use it (not SAM 3, or a SAM 3 file without the detector) or the
    merges file does not fit its text encoder."""
    try:
        return ConceptPredictor(model, bpe, threshold=DEFAULT_THRESHOLD)
    except NoDetectorError as err:
        raise AppError(f"--bpe with {checkpoint.name}: {err}; or drop --bpe") from None
    except TokenizerFileError as err:
        raise AppError(f"--bpe: {err}") from None


def add_concept_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bpe",
        help="the SAM 3 text tokenizer's BPE merges file (Meta's bpe_simple_vocab_16e6.txt.gz): "
        "turns on the image page's text prompts (a SAM 3 checkpoint with the detector)",
    )


class ConceptSession:
    """The text mode's predictor, the images the page may ask about (by the Segmenter's image
    ids), and the answers so far."""

    def __init__(self, predictor: ConceptPredictor, use_hq: bool) -> None:
        self.predictor = predictor
        self.use_hq = use_hq
        self.images: OrderedDict[str, tuple[np.ndarray, str]] = OrderedDict()
        self.current: str | None = None  # the image the predictor holds now
        self.answers: OrderedDict[tuple, ConceptInstances] = OrderedDict()

    def remember(self, image_id: str, image: np.ndarray, name: str) -> None:
        """An image opened on the page (encoded for the detector only when first asked about)."""
        self.images[image_id] = (image, name)
        self.images.move_to_end(image_id)
        while len(self.images) > KEPT_IMAGES:
            self.images.popitem(last=False)

    def image(self, image_id: str) -> tuple[np.ndarray, str]:
        if image_id not in self.images:
            raise ImageNotLoaded()
        return self.images[image_id]

    def predict(self, body) -> tuple[dict, ConceptInstances, float]:
        """(the checked request, the instances, seconds spent: 0 for a kept answer)."""
        request = check_request(body)
        key = (
            request["image_id"],
            request["text"],
            tuple(map(tuple, request["exemplar_boxes"] or ())),
            tuple(request["exemplar_labels"] or ()),
            request["threshold"],
        )
        if key in self.answers:
            self.answers.move_to_end(key)
            return request, self.answers[key], 0.0
        image, _ = self.image(request["image_id"])
        start = time.perf_counter()
        if self.current != request["image_id"]:
            self.current = None
            self.predictor.set_image(image)
            self.current = request["image_id"]
        boxes = request["exemplar_boxes"]
        found = self.predictor.predict(
            request["text"],
            exemplar_boxes=None if boxes is None else np.array(boxes, np.float64),
            exemplar_labels=None if boxes is None else np.array(request["exemplar_labels"]),
            use_hq=self.use_hq,
            threshold=request["threshold"],
        )
        self.answers[key] = found
        while len(self.answers) > 1 and (
            len(self.answers) > KEPT_ANSWERS
            or sum(a.masks.nbytes + a.detector_masks.nbytes for a in self.answers.values())
            > KEPT_MASK_BYTES
        ):
            self.answers.popitem(last=False)
        return request, found, time.perf_counter() - start

    def save(self, body, out_dir: Path) -> list[Path]:
        """Write the request's instances as samhq-concept does, under a stem no file has yet."""
        request, found, _ = self.predict(body)
        image, name = self.image(request["image_id"])
        out = out_dir.resolve()
        out.mkdir(parents=True, exist_ok=True)
        stem = free_stem(out, f"{safe_stem(name)}_concept", CONCEPT_SAVE)
        write_result(out, stem, name, image, prompt_record(request), found)
        return [out / f"{stem}.json", out / f"{stem}_masks", out / f"{stem}_overlay.png"]


def prompt_record(request: dict) -> dict:
    """The prompt as samhq-concept's json records it, with the threshold."""
    return {
        "text": request["text"],
        "exemplar_boxes": request["exemplar_boxes"],
        "exemplar_labels": request["exemplar_labels"],
        "threshold": request["threshold"],
    }


def check_request(body) -> dict:
    """{image_id, text (None: exemplars only), exemplar_boxes (K x 4 or None), exemplar_labels,
    threshold}; AppError naming what is wrong (box coordinates are checked by the predictor)."""
    if not isinstance(body, dict):
        raise AppError("the request must be a json object")
    text = body.get("text")
    if text is not None and not isinstance(text, str):
        raise AppError("text must be a string (a noun phrase such as 'a red car')")
    if text is not None and len(text) > MAX_TEXT:
        raise AppError(f"the text has {len(text)} characters; at most {MAX_TEXT} are taken")
    text = text.strip() if text else None
    exemplars = body.get("exemplars") or []
    if not isinstance(exemplars, list) or len(exemplars) > MAX_EXEMPLARS:
        raise AppError(f"exemplars must be a list of at most {MAX_EXEMPLARS} boxes")
    boxes, labels = [], []
    for i, item in enumerate(exemplars):
        box = item.get("box") if isinstance(item, dict) else None
        label = item.get("label") if isinstance(item, dict) else None
        if not (
            isinstance(box, list)
            and len(box) == 4
            and all(_number(v) and math.isfinite(v) for v in box)
            and label in (0, 1)
            and not isinstance(label, bool)
        ):
            raise AppError(
                f"exemplar {i} must be {{'box': [x0, y0, x1, y1], 'label': 1 or 0}}, got {item!r}"
            )
        boxes.append([float(v) for v in box])
        labels.append(int(label))
    if text is None and not boxes:
        raise AppError(
            "the text prompt is empty: type a noun phrase such as 'a red car' (or draw an "
            "example box)"
        )
    threshold = body.get("threshold", DEFAULT_THRESHOLD)
    if not (_number(threshold) and 0.0 <= threshold < 1.0):
        raise AppError(f"the confidence threshold must be a number in [0, 1), got {threshold!r}")
    return {
        "image_id": str(body.get("image_id", "")),
        "text": text,
        "exemplar_boxes": boxes or None,
        "exemplar_labels": labels or None,
        "threshold": float(threshold),
    }


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
