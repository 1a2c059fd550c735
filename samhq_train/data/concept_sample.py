"""One concept datapoint (Meta's Datapoint for an image): the image, its instances (boxes,
areas, crowd flags, segmentations) and its queries (a phrase and the instances it must find),
loaded from a checked ConceptCoco with Meta's box arithmetic (COCO_FROM_JSON +
Sam3ImageDataset.load_queries, sam3 0.1.4), in fp32 as Meta computes it: the json's [x, y, w, h]
divided by the image's size and clamped to [0, 1] (area = w x h of that), then x1 = x + w,
y1 = y + h, scaled back to pixels and clamped to the image.

Masks: a segmentation (polygons merged, RLE) decoded at the image's size, uint8 0 / 1; an empty
one replaced by its box (as Meta's DecodeRle); an instance without segmentation gets a zero mask
and ``has_mask`` False (no mask loss for it)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ..coco_masks import decode_segmentation
from .concept_coco import ConceptCoco, ConceptInstance
from .image_files import read_image

__all__ = [
    "ConceptQuery", "ConceptSample", "decode_masks", "decode_segmentation", "load_sample",
]


@dataclass(frozen=True)
class ConceptQuery:
    """A phrase asked of the sample's image; ``instances`` index the sample's instances that
    answer it, in order; ``is_exhaustive``: every instance of the phrase is annotated;
    ``exemplar_box``: 1 x 4 fp32, a positive exemplar box asked with the phrase (Meta's
    input_bbox; concept_exemplars), in the sample's box coordinates, or None (text only)."""

    phrase: str
    category_id: int
    instances: tuple[int, ...]
    is_exhaustive: bool = True
    exemplar_box: torch.Tensor | None = field(default=None, compare=False)


@dataclass
class ConceptSample:
    """image: H x W x 3 uint8 before the transforms, 3 x S x S float after; boxes N x 4 fp32,
    (x0, y0, x1, y1) pixels before the transforms, normalised (cx, cy, w, h) after; areas
    Meta's per-instance area (its empty-target filter reads it); masks N x H x W uint8 (0 / 1)
    once decoded, else None; has_mask N bool. After the transforms, view: the image's geometry in
    the S x S input, (side, left, top) of its square resize and zero padding (all its pixels
    depend on besides the file: the trunk-map cache's key); maps: its trunk map from that cache,
    else None."""

    image: np.ndarray | torch.Tensor
    boxes: torch.Tensor
    areas: list[float]
    crowd: list[bool]
    segmentations: list[object]
    queries: list[ConceptQuery]
    image_id: int
    original_size: tuple[int, int]
    masks: torch.Tensor | None = None
    has_mask: torch.Tensor | None = None
    view: tuple[int, int, int] | None = None
    maps: torch.Tensor | None = None

    def kept(self, rows: list[int]) -> ConceptSample:
        """The sample with only the instances `rows` (in that order); queries not remapped."""
        index = torch.as_tensor(rows, dtype=torch.long)
        return replace(
            self,
            boxes=self.boxes[index],
            areas=[self.areas[r] for r in rows],
            crowd=[self.crowd[r] for r in rows],
            segmentations=[self.segmentations[r] for r in rows],
            masks=None if self.masks is None else self.masks[index],
            has_mask=None if self.has_mask is None else self.has_mask[index],
        )


def _pixel_boxes(instances: list[ConceptInstance], height: int, width: int):
    """(N x 4 fp32 x0 y0 x1 y1 pixels, areas) by Meta's arithmetic (see the module docstring)."""
    xywh = torch.tensor([inst.bbox for inst in instances], dtype=torch.float32).view(-1, 4)
    xywh[:, [0, 2]] /= width
    xywh[:, [1, 3]] /= height
    xywh = xywh.clamp(0, 1)
    areas = (xywh[:, 2] * xywh[:, 3]).tolist()
    x, y, w, h = xywh.unbind(-1)
    boxes = torch.stack([x, y, x + w, y + h], dim=-1)
    boxes[:, 0::2].mul_(width).clamp_(min=0, max=width)
    boxes[:, 1::2].mul_(height).clamp_(min=0, max=height)
    return boxes, areas


def load_sample(coco: ConceptCoco, image_index: int, category_ids: tuple[int, ...],
                include_negatives: bool = True) -> ConceptSample:
    """The image read and its queries for `category_ids` (in that order): instances grouped by
    category in that order, json order within one."""
    image = coco.images[image_index]
    by_category: dict[int, list[ConceptInstance]] = {c: [] for c in category_ids}
    for inst in coco.instances[image_index]:
        if inst.category_id in by_category:
            by_category[inst.category_id].append(inst)
    instances: list[ConceptInstance] = []
    queries = []
    for category_id in category_ids:
        found = by_category[category_id]
        if not found and not include_negatives:
            continue
        rows = tuple(range(len(instances), len(instances) + len(found)))
        instances.extend(found)
        queries.append(ConceptQuery(coco.categories[category_id], category_id, rows))
    pixels = read_image(image.path)
    boxes, areas = _pixel_boxes(instances, image.height, image.width)
    return ConceptSample(
        image=pixels, boxes=boxes, areas=areas, crowd=[i.iscrowd for i in instances],
        segmentations=[i.segmentation for i in instances], queries=queries,
        image_id=image.id, original_size=(image.height, image.width),
    )


def decode_masks(sample: ConceptSample) -> ConceptSample:
    """sample.masks (N x H x W uint8) and has_mask from its segmentations; an empty mask becomes
    its box (Meta's DecodeRle: the pixel box truncated to integers, at least one pixel)."""
    height, width = sample.image.shape[:2]
    masks = torch.zeros(len(sample.segmentations), height, width, dtype=torch.uint8)
    has_mask = torch.zeros(len(sample.segmentations), dtype=torch.bool)
    for row, segmentation in enumerate(sample.segmentations):
        if segmentation is None:
            continue
        has_mask[row] = True
        mask = decode_segmentation(segmentation, height, width)
        if mask.any():
            masks[row] = torch.from_numpy(mask)
        else:
            x0, y0, x1, y1 = sample.boxes[row].int().tolist()
            masks[row, y0:max(y1, y0 + 1), x0:max(x0 + 1, x1)] = 1
    return replace(sample, masks=masks, has_mask=has_mask)
