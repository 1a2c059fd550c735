"""Text (and exemplar-box) prompts on HQ-SAM 3: SAM 3's concept detector finds every instance of a
noun phrase, and the interactive path's HQ decoder draws each one's mask from its box.

The detector is Meta's Sam3Processor step by step (the image resized to S x S as uint8, then
(x - 127.5) / 127.5; one instance per query whose score sigmoid(logit) * sigmoid(presence)
passes the threshold; boxes scaled to the image; the detector's stride-4 masks resized bilinearly
and thresholded at 0.5). Its masks are the detector's own, at a quarter of the model input;
refining each box with the interactive decoder (Sam3Image.predict_inst on the same image state:
single-mask, small holes filled; here with the HQ token) gives masks at full resolution with the
HQ boundary.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from samhq_train.clip_tokenizer import ClipTokenizer, TokenizerFileError
from samhq_train.model.formats import sam3_file_keys
from samhq_train.model.formats.inspection import Inspection
from samhq_train.model.sam3.concept.detector import (
    PREFIX,
    ConceptDetector,
    Detections,
    concept_detector,
)
from samhq_train.model.sam3.model import Sam3HQ

from .predictor import PromptError, SamHQPredictor, checked_boxes

# Meta's Sam3Processor: the text an exemplar-only prompt is encoded with
EXEMPLAR_ONLY_TEXT = "visual"

# the keys concept_detector looks for (the detector's decoder), in a file's official names
DETECTOR_KEYS = PREFIX + "transformer.decoder."
# said of a SAM 3 file found without them, after its name
NO_DETECTOR = (
    f"has no concept detector (no {DETECTOR_KEYS}* keys: a SAM 3 file of the interactive path "
    "only)"
)


def file_without_detector(info: Inspection, base=None) -> Path | None:
    """The SAM 3 weights file (the inspected one, or `base` when it needs one) whose key names
    show it holds no concept detector, told before a model is built; None when it holds one or
    the names do not tell (sam3_file_keys)."""
    found = sam3_file_keys(info, base)
    if found is None or any(key.startswith(DETECTOR_KEYS) for key in found[1]):
        return None
    return found[0]


@dataclass(frozen=True)
class ConceptInstances:
    """What one concept prompt found, N instances in the detector's query order.

    scores: N detection confidences (sigmoid(logit) * presence); boxes: N x 4 (x0, y0, x1, y1)
    in image pixels; detector_masks: N x H x W bool (the detector's own masks); masks: N x H x W
    bool, refined by the interactive decoder from each box (the detector's when not refined);
    mask_scores: N, the interactive decoder's predicted IoU (None when not refined)."""

    scores: np.ndarray
    boxes: np.ndarray
    detector_masks: np.ndarray
    masks: np.ndarray
    mask_scores: np.ndarray | None

    def __len__(self) -> int:
        return len(self.scores)


def joined(parts: list[ConceptInstances]) -> ConceptInstances:
    """The instances of several prompts on one image, each prompt's after the previous one's."""
    if len(parts) == 1:
        return parts[0]
    refined = any(p.mask_scores is not None for p in parts)
    if refined and any(len(p) and p.mask_scores is None for p in parts):
        raise ValueError("joined: refined and detector-only instances cannot be mixed")
    return ConceptInstances(
        scores=np.concatenate([p.scores for p in parts]),
        boxes=np.concatenate([p.boxes for p in parts]),
        detector_masks=np.concatenate([p.detector_masks for p in parts]),
        masks=np.concatenate([p.masks for p in parts]),
        mask_scores=np.concatenate(
            [np.zeros(0, np.float32) if p.mask_scores is None else p.mask_scores for p in parts]
        )
        if refined
        else None,
    )


def checked_threshold(threshold) -> float:
    """The detection confidence threshold as a float in [0, 1), or PromptError (NaN and non-numbers
    included). An instance needs a score above it: 1 would keep nothing."""
    number = isinstance(threshold, (int, float, np.integer, np.floating))
    if isinstance(threshold, bool) or not number or not 0.0 <= threshold < 1.0:
        raise PromptError(
            f"threshold must be a number in [0, 1) (Meta's default 0.5), got {threshold!r}"
        )
    return float(threshold)


class ConceptPredictor:
    """Set an image once, then ask for concepts: predict("a striped cat").

    model: an HQ-SAM 3 / SAM 3 model loaded from a file with the detector (the files
    constants.SAM3_DETECTOR_FILES names); tokenizer: the text tokenizer, or the path of its
    BPE merges file (Meta's bpe_simple_vocab_16e6.txt.gz, which sam3.pt does not contain).
    threshold: the detection confidence an instance needs (Meta's default 0.5). amp_dtype runs
    the model under autocast (outputs float32)."""

    def __init__(
        self,
        model: Sam3HQ,
        tokenizer: ClipTokenizer | str | os.PathLike,
        *,
        threshold: float = 0.5,
        amp_dtype: torch.dtype | None = None,
    ) -> None:
        self.threshold = checked_threshold(threshold)  # before the detector and tokenizer
        self.detector: ConceptDetector = concept_detector(model)
        cfg = self.detector.cfg
        if not isinstance(tokenizer, ClipTokenizer):
            tokenizer = ClipTokenizer(tokenizer, cfg.context_length, cfg.vocab_size)
        elif (len(tokenizer.ids), tokenizer.context_length) != (cfg.vocab_size, cfg.context_length):
            raise TokenizerFileError(
                f"the tokenizer gives {len(tokenizer.ids)} ids in {tokenizer.context_length}, "
                f"the detector's text encoder takes {cfg.vocab_size} in {cfg.context_length}: "
                "make it from the merges file this model was trained with"
            )
        self.tokenizer = tokenizer
        self.interactive = SamHQPredictor(model, amp_dtype=amp_dtype)
        self.model = model
        self.image = None
        self.last_detection = None  # (prompt, Detections) on the set image

    @property
    def device(self) -> torch.device:
        return self.interactive.device

    @torch.no_grad()
    def set_image(self, image: np.ndarray) -> None:
        """Encode an H x W x 3 uint8 RGB image once for the detector and the interactive path
        (one trunk pass, both necks)."""
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(
                f"image must be an H x W x 3 uint8 array, got shape {image.shape} and dtype "
                f"{image.dtype}"
            )
        size = self.model.processing.image_size
        pixels = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)[None]
        # uint8 in, uint8 out (rounded), as Sam3Processor's torchvision Resize on uint8 images
        pixels = F.interpolate(pixels, (size, size), mode="bilinear", antialias=True)
        x = self.model.preprocess(pixels.to(self.device).float())
        backbone = self.model.image_encoder
        with self.interactive._autocast():
            if self.model.early_fusion:
                trunk_map, early = backbone.trunk(x, self.model.early_block)
            else:
                trunk_map, early = backbone.trunk(x), None
            features = self.model.features_from_neck(backbone.neck(trunk_map), early)
            self.image = self.detector.encode_image(trunk_map)
        self.last_detection = None
        self.interactive.set_features(features, image.shape[:2], (size, size))

    @torch.no_grad()
    def predict(
        self,
        text: str | None,
        *,
        exemplar_boxes=None,
        exemplar_labels=None,
        refine: bool = True,
        use_hq: bool | None = None,
        threshold: float | None = None,
    ) -> ConceptInstances:
        """Every instance of `text` (a noun phrase) and / or of the exemplar boxes (K x 4, x0 y0
        x1 y1 in pixels; labels K: 1 an example of the concept, 0 a counter-example; default
        all 1). refine=False keeps the detector's masks; use_hq as SamHQPredictor.predict
        (None: the HQ token, with its warning when the HQ parts are untrained); threshold: this
        call's (None: the predictor's)."""
        if self.image is None:
            raise RuntimeError("set an image with set_image(...) before predict(...)")
        threshold = self.threshold if threshold is None else checked_threshold(threshold)
        h, w = self.interactive.original_size
        if text is None and exemplar_boxes is None:
            raise PromptError("give a text prompt, exemplar boxes, or both")
        if text is not None and not text.strip():
            raise PromptError("the text prompt is empty: give a noun phrase such as 'a red car'")
        exemplars = self._exemplars(exemplar_boxes, exemplar_labels, (h, w))
        found = self._detect(EXEMPLAR_ONLY_TEXT if text is None else text, exemplars)
        scores = (found.logits.sigmoid() * found.presence_logit.sigmoid()[:, None])[0].float()
        keep = scores > threshold
        boxes = found.boxes_xyxy[0][keep].float() * torch.tensor([w, h, w, h], device=self.device)
        mask_logits = found.mask_logits[0][keep].float()[:, None]
        detector_masks = (
            F.interpolate(mask_logits, (h, w), mode="bilinear", align_corners=False).sigmoid()
            > 0.5
        )[:, 0]
        masks, mask_scores = detector_masks.cpu().numpy(), None
        boxes = boxes.cpu().numpy()
        if refine and len(boxes):
            masks, mask_scores = self.refine(boxes, use_hq=use_hq)
        return ConceptInstances(
            scores=scores[keep].cpu().numpy(),
            boxes=boxes,
            detector_masks=detector_masks.cpu().numpy(),
            masks=masks,
            mask_scores=mask_scores,
        )

    def refine(
        self,
        boxes: np.ndarray,
        *,
        use_hq: bool | None = None,
        return_logits=False,
        hq_token_only: bool = False,
    ):
        """(masks N x H x W, predicted IoUs N) of the interactive decoder for N x 4 boxes (x0, y0,
        x1, y1 pixels, clipped to the image), single-mask, with the small holes filled as Meta's
        Sam3Image.predict_inst fills them (the interactive predictor's default: the family's
        image_fill_hole_area). hq_token_only as SamHQPredictor.predict (with the HQ token: its
        mask alone, not added to SAM's)."""
        h, w = self.interactive.original_size
        masks, scores, _ = self.interactive.predict(
            box=np.clip(boxes, 0, [w, h, w, h]),
            multimask_output=False,
            hq_token_only=hq_token_only,
            return_logits=return_logits,
            use_hq=use_hq,
        )
        return masks[:, 0], scores[:, 0]

    def _detect(self, text: str, exemplars) -> Detections:
        """The detector's answer for this prompt on the set image; the last one is kept, so the
        same prompt with another threshold or refinement does not run the detector again."""
        key = (text, None if exemplars is None else tuple(t.tolist() for t in exemplars))
        if self.last_detection is None or self.last_detection[0] != key:
            tokens = self.tokenizer([text]).to(self.device)
            with self.interactive._autocast():
                self.last_detection = (key, self.detector(self.image, tokens, exemplars))
        return self.last_detection[1]

    def _exemplars(self, boxes, labels, image_hw):
        """Exemplar boxes as the detector takes them: 1 x K x 4 (cx, cy, w, h) normalised and
        1 x K labels, or None."""
        if boxes is None:
            if labels is not None:
                raise PromptError("exemplar_labels were given without exemplar_boxes")
            return None
        boxes = checked_boxes(boxes, image_hw).reshape(-1, 4)
        labels = np.ones(len(boxes), dtype=np.int64) if labels is None else np.asarray(labels)
        if labels.shape != (len(boxes),) or not np.isin(labels, (0, 1)).all():
            raise PromptError(
                f"exemplar_labels must be one 1 (example) or 0 (counter-example) per box, got "
                f"{labels.tolist()}"
            )
        h, w = image_hw
        xyxy = torch.tensor(boxes, dtype=torch.float32) / torch.tensor([w, h, w, h])
        cxcywh = torch.cat(((xyxy[:, :2] + xyxy[:, 2:]) / 2, xyxy[:, 2:] - xyxy[:, :2]), dim=1)
        return cxcywh[None].to(self.device), torch.from_numpy(labels)[None].to(self.device)
