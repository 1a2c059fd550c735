"""Concept samples -> one batch: the images stacked and the queries of all samples in order
(sample after sample, each sample's queries in its order), as Meta's collate_fn_api orders a
single-stage find batch (sam3 0.1.4), with the ground truth as ConceptTargets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch

from .concept_sample import ConceptSample
from .concept_targets import ConceptTargets

__all__ = ["ConceptBatch", "collate_concepts", "exemplar_prompts", "pad_per_query"]


class ConceptBatch(NamedTuple):
    """images B x 3 x S x S (normalised); per query q (Q in all): image_index[q] (its row of
    images; Meta's img_ids), phrases[q], text_index[q] (its row of texts: the distinct phrases in
    first-seen order, Meta's find_text_batch / text_ids), category_ids[q] (the json's);
    image_ids B (the json's), original_sizes B x 2 (H, W of the file); targets: the queries'
    ground truth; exemplar_boxes Q x E x 4 (normalised cx, cy, w, h; E the most exemplar boxes
    a query has, 0 for a text-only batch), exemplar_labels Q x E (int64, 1 = positive) and
    exemplar_padding Q x E (True = no box there): the queries' exemplar prompts, right-padded,
    batch-first (Meta's input_boxes / input_boxes_label / input_boxes_mask, which are
    sequence-first but for the mask); maps: the images' trunk maps B x C x g x g from the
    trunk-map cache, or None (the trunk makes them)."""

    images: torch.Tensor
    image_index: torch.Tensor
    phrases: tuple[str, ...]
    texts: tuple[str, ...]
    text_index: torch.Tensor
    category_ids: torch.Tensor
    image_ids: torch.Tensor
    original_sizes: torch.Tensor
    targets: ConceptTargets
    exemplar_boxes: torch.Tensor
    exemplar_labels: torch.Tensor
    exemplar_padding: torch.Tensor
    maps: torch.Tensor | None = None

    def to(self, device, non_blocking: bool = False) -> ConceptBatch:
        """The tensors on `device` (the phrases stay)."""
        def move(t):
            return None if t is None else t.to(device, non_blocking=non_blocking)

        targets = ConceptTargets(*(move(t) for t in self.targets))
        return self._replace(
            images=move(self.images), image_index=move(self.image_index),
            text_index=move(self.text_index), category_ids=move(self.category_ids),
            image_ids=move(self.image_ids), original_sizes=move(self.original_sizes),
            targets=targets, exemplar_boxes=move(self.exemplar_boxes),
            exemplar_labels=move(self.exemplar_labels),
            exemplar_padding=move(self.exemplar_padding), maps=move(self.maps),
        )


def pad_per_query(packed: torch.Tensor, counts: torch.Tensor, fill: float = 0) -> torch.Tensor:
    """Packed rows (sum(counts) x ...) -> len(counts) x max(counts) x ..., `fill` beyond a
    query's count."""
    width = int(counts.max()) if len(counts) else 0
    padded = packed.new_full((len(counts), width, *packed.shape[1:]), fill)
    start = 0
    for q, count in enumerate(counts.tolist()):
        padded[q, :count] = packed[start:start + count]
        start += count
    return padded


def exemplar_prompts(queries) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(boxes Q x E x 4, labels Q x E, padding Q x E) of the queries' exemplar boxes, zero rows,
    label 0 and padding True beyond a query's own (as Meta's collate pads)."""
    counts = torch.as_tensor(
        [0 if q.exemplar_box is None else len(q.exemplar_box) for q in queries], dtype=torch.long
    )
    own = [q.exemplar_box for q in queries if q.exemplar_box is not None]
    packed = torch.cat(own).to(torch.float32) if own else torch.zeros(0, 4)
    boxes = pad_per_query(packed, counts)
    slots = torch.arange(boxes.shape[1])
    padding = slots[None, :] >= counts[:, None]
    return boxes, (~padding).long(), padding


def collate_concepts(samples: Sequence[ConceptSample]) -> ConceptBatch:
    """A batch of transformed samples (their masks, their trunk maps when they carry them: all
    or none)."""
    with_masks = samples[0].masks is not None
    if any((s.masks is not None) != with_masks for s in samples):
        raise ValueError("a batch mixes samples with and without masks")
    if any((s.maps is not None) != (samples[0].maps is not None) for s in samples):
        raise ValueError("a batch mixes samples with and without trunk maps")
    texts: dict[str, int] = {}
    image_index, phrases, text_index, category_ids, exhaustive, counts = [], [], [], [], [], []
    boxes, masks, valid, object_ids = [], [], [], []
    for b, sample in enumerate(samples):
        for query in sample.queries:
            rows = torch.as_tensor(query.instances, dtype=torch.long)
            image_index.append(b)
            phrases.append(query.phrase)
            text_index.append(texts.setdefault(query.phrase, len(texts)))
            category_ids.append(query.category_id)
            exhaustive.append(query.is_exhaustive)
            counts.append(len(query.instances))
            boxes.append(sample.boxes[rows].view(-1, 4))
            object_ids.append(rows)
            if with_masks:
                masks.append(sample.masks[rows].bool())
                valid.append(sample.has_mask[rows])
    num_boxes = torch.as_tensor(counts, dtype=torch.long)
    packed = torch.cat(boxes).to(torch.float32)
    targets = ConceptTargets(
        num_boxes=num_boxes,
        boxes=packed,
        boxes_padded=pad_per_query(packed, num_boxes),
        masks=torch.cat(masks) if with_masks else None,
        is_valid_mask=torch.cat(valid) if with_masks else None,
        is_exhaustive=torch.as_tensor(exhaustive, dtype=torch.bool),
        object_ids=torch.cat(object_ids),
    )
    exemplar_boxes, exemplar_labels, exemplar_padding = exemplar_prompts(
        [query for sample in samples for query in sample.queries])
    return ConceptBatch(
        images=torch.stack([s.image for s in samples]),
        image_index=torch.as_tensor(image_index, dtype=torch.long),
        phrases=tuple(phrases),
        texts=tuple(texts),
        text_index=torch.as_tensor(text_index, dtype=torch.long),
        category_ids=torch.as_tensor(category_ids, dtype=torch.long),
        image_ids=torch.as_tensor([s.image_id for s in samples], dtype=torch.long),
        original_sizes=torch.as_tensor([s.original_size for s in samples], dtype=torch.long),
        targets=targets,
        exemplar_boxes=exemplar_boxes, exemplar_labels=exemplar_labels,
        exemplar_padding=exemplar_padding,
        maps=None if samples[0].maps is None else torch.stack([s.maps for s in samples]),
    )
