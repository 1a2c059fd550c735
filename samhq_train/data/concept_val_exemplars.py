"""Exemplar-box prompts in concept validation (data.val_exemplars): each validation query that has
instances is asked once more with one of its own instances' boxes as a positive exemplar, so a
run that trains exemplar prompts (concept_exemplars) sees that path's loss and box AP.

As Meta's visual evaluations ask (sam3's odinw_visual_only / odinw_text_and_visual configs:
TextQueryToVisual(probability=1.0) after the validation transforms, no RandomizeInputBbox): the
box is the instance's own normalised box, exact (the jitter is a training augmentation; a fixed
prompt makes one epoch's figure comparable with the next), label 1, the phrase "visual" unless
the text is kept (data.exemplar_keep_text, the training key's meaning: text + box), and any
instance can be chosen (crowds too: Meta's validation keeps them). Queries without instances are
not asked: they have no box to give, and Meta scores these evaluations on the positive split
(COCOevalCustom(dt_only_positive=True): detections of a category the image has no instance of
are left out), which scoring only the asked queries with plain COCOeval equals.

Which instance: Meta draws random.choice from its process's global stream, which depends on the
order, the workers and the process count. Here the draw is seeded by (data.seed, image id,
category id) alone, so the same box is asked in every epoch, by any process count or share,
batch size or category chunking (the 1-process and N-process figures are the same run's)."""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from samhq_train.settings import is_int, require

from .concept_batch import ConceptBatch, pad_per_query
from .concept_exemplars import EXEMPLAR_PHRASE
from .concept_targets import ConceptTargets

__all__ = ["ValExemplarSettings", "exemplar_batch", "val_exemplar_row"]


@dataclass(frozen=True)
class ValExemplarSettings:
    """enabled: validate exemplar prompts (data.val_exemplars); seed: the draws' base
    (data.seed); keep_text: ask phrase + box instead of "visual" (data.exemplar_keep_text)."""

    enabled: bool = True
    seed: int = 0
    keep_text: bool = False

    def __post_init__(self) -> None:
        require("data.val_exemplars", self.enabled, lambda v: isinstance(v, bool),
                "true or false")
        require("data.seed", self.seed, is_int, "an integer")
        require("data.exemplar_keep_text", self.keep_text, lambda v: isinstance(v, bool),
                "true or false")


def val_exemplar_row(seed: int, image_id: int, category_id: int, count: int) -> int:
    """Which of a query's `count` instances (json order) is its validation exemplar."""
    return random.Random(f"{seed}:{image_id}:{category_id}:val exemplar").randrange(count)


def _packed_rows(num_boxes: torch.Tensor, queries: list[int]) -> torch.Tensor:
    """The rows of the packed per-instance tensors that belong to `queries`, in order."""
    starts = torch.cumsum(num_boxes, 0) - num_boxes
    rows = [torch.arange(int(starts[q]), int(starts[q] + num_boxes[q])) for q in queries]
    return torch.cat(rows).to(num_boxes.device)


def _subset_targets(targets: ConceptTargets, queries: list[int]) -> ConceptTargets:
    index = torch.as_tensor(queries, dtype=torch.long, device=targets.num_boxes.device)
    rows = _packed_rows(targets.num_boxes, queries)
    num_boxes = targets.num_boxes[index]
    boxes = targets.boxes[rows]

    def packed(t):
        return None if t is None else t[rows]

    return ConceptTargets(
        num_boxes=num_boxes, boxes=boxes, boxes_padded=pad_per_query(boxes, num_boxes),
        masks=packed(targets.masks), is_valid_mask=packed(targets.is_valid_mask),
        is_exhaustive=targets.is_exhaustive[index], object_ids=packed(targets.object_ids))


def exemplar_batch(batch: ConceptBatch, settings: ValExemplarSettings) -> ConceptBatch | None:
    """The validation batch's queries with instances, in order, each asked with one of its own
    boxes (module docstring) over the same images; None when no query has an instance."""
    counts = batch.targets.num_boxes.tolist()
    queries = [q for q, count in enumerate(counts) if count > 0]
    if not queries:
        return None
    image_ids = batch.image_ids.tolist()
    images, categories = batch.image_index.tolist(), batch.category_ids.tolist()
    chosen = [val_exemplar_row(settings.seed, image_ids[images[q]], categories[q], counts[q])
              for q in queries]
    index = torch.as_tensor(queries, dtype=torch.long, device=batch.image_index.device)
    picked = torch.as_tensor(chosen, dtype=torch.long, device=index.device)
    exemplars = batch.targets.boxes_padded[index, picked][:, None]  # K x 1 x 4
    phrases = tuple(batch.phrases[q] if settings.keep_text else EXEMPLAR_PHRASE for q in queries)
    texts: dict[str, int] = {}
    text_index = [texts.setdefault(phrase, len(texts)) for phrase in phrases]
    return batch._replace(
        image_index=batch.image_index[index], phrases=phrases, texts=tuple(texts),
        text_index=torch.as_tensor(text_index, dtype=torch.long, device=index.device),
        category_ids=batch.category_ids[index],
        targets=_subset_targets(batch.targets, queries),
        exemplar_boxes=exemplars.clone(),
        exemplar_labels=torch.ones(len(queries), 1, dtype=torch.long, device=index.device),
        exemplar_padding=torch.zeros(len(queries), 1, dtype=torch.bool, device=index.device),
    )
