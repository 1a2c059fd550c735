"""The training and validation transforms of a concept sample: Meta's fine-tuning recipe
(sam3 0.1.4, roboflow_v100_full_ft_100_images.yaml), in its order, with its arithmetic.

Training: crowd instances dropped (FilterCrowds; a query left without instances stays, as a
negative); masks decoded (DecodeRle); the image stretched to a random square s x s, s drawn
from ``resize_scales`` (RandomResizeAPI square=True; PIL bilinear; masks by torchvision's
bilinear resize of 0 / 1 uint8); zero padding to S x S at a random offset (PadToSizeAPI: left
then top drawn); pixels / 255; instances of area < 1e-6 dropped (FilterEmptyTargets); pixels
(x - 0.5) / 0.5 and boxes normalised (cx, cy, w, h) of the S x S input (NormalizeAPI); then
queries with more than ``max_instances`` instances dropped whole
(FilterFindQueriesWithTooManyOut). Every drop also drops the instances no query keeps, as
Meta's FlexibleFilterFindGetQueries does, so an instance's index is its rank among the kept.

Exemplar boxes (optional, concept_exemplars): drawn right after FilterCrowds, where the recipe
runs RandomizeInputBbox; the resize, pad and normalisation move them with the instances' boxes.

Randomness: ``rng`` is a ``random.Random`` drawn exactly as Meta draws the module ``random``:
``choice(scales)``, ``randint(0, S - s)`` (left), ``randint(0, S - s)`` (top).
A sample's view, (s, left, top), is all its pixels depend on besides the image file:
``view_input`` gives those pixels alone (the trunk-map cache encodes them), and a given view
replaces the draw (pre-drawn views, ConceptDataset).

Validation: the image stretched to S x S, masks likewise when wanted (Meta's validation
transforms decode no mask: its recipe validates boxes); nothing dropped (Meta's keep crowds and
every query)."""

from __future__ import annotations

import math
import random
from dataclasses import replace

import numpy as np
import torch
import torch.nn.functional as nnf
import torchvision.transforms.functional as tvf

from samhq_train.resizing import resize_image

from .concept_exemplars import ExemplarSettings, add_exemplars
from .concept_sample import ConceptSample, decode_masks

__all__ = [
    "EMPTY_AREA", "MAX_INSTANCES", "MIN_SCALE", "RESOLUTION", "NoQueryLeft", "View", "draw_view",
    "drop_instances", "drop_queries", "resize_scales", "stretch_view", "train_transform",
    "val_transform", "view_input",
]

RESOLUTION = 1008  # the recipe's scratch.resolution
MIN_SCALE = 480  # the smallest random square side (get_random_resize_scales' min_size)
MAX_INSTANCES = 200  # scratch.max_ann_per_img: a query with more is dropped
EMPTY_AREA = 1e-6  # FilterEmptyTargets: below this (Meta's area unit) an instance is dropped
View = tuple[int, int, int]  # (side, left, top): an image's square resize and padding offsets


class NoQueryLeft(Exception):
    """Every query of a sample was dropped (Meta's loader then serves the next datapoint)."""


def resize_scales(resolution: int, min_size: int = MIN_SCALE) -> list[int]:
    """The random square sides: multiples of 32 from min_size (rounded up) to resolution
    (get_random_resize_scales with rounded=False): at 1008, 480 ... 992, so a training image is
    always padded."""
    start = 32 * math.ceil(min_size / 32)
    return list(range(start, resolution + 1, 32))


def drop_instances(sample: ConceptSample, drop: set[int]) -> ConceptSample:
    """Without the instances `drop` and those no query references; queries renumbered."""
    used = {row for query in sample.queries for row in query.instances}
    rows = [r for r in range(len(sample.areas)) if r in used and r not in drop]
    new_index = {old: new for new, old in enumerate(rows)}
    queries = [
        replace(q, instances=tuple(new_index[r] for r in q.instances if r in new_index))
        for q in sample.queries
    ]
    return replace(sample.kept(rows), queries=queries)


def drop_queries(sample: ConceptSample, keep: list[bool]) -> ConceptSample:
    """Only the queries flagged in `keep` (and the instances they reference); NoQueryLeft when
    none is kept."""
    queries = [q for q, k in zip(sample.queries, keep) if k]
    if not queries:
        raise NoQueryLeft(f"image {sample.image_id}: no query left")
    return drop_instances(replace(sample, queries=queries), set())


def _move_boxes(sample: ConceptSample, move) -> ConceptSample:
    """The instances' boxes and the queries' exemplar boxes through the same arithmetic."""
    queries = [
        q if q.exemplar_box is None else replace(q, exemplar_box=move(q.exemplar_box))
        for q in sample.queries
    ]
    return replace(sample, boxes=move(sample.boxes), queries=queries)


def _resize_square(sample: ConceptSample, side: int) -> ConceptSample:
    height, width = sample.image.shape[:2]
    ratio_w, ratio_h = float(side) / float(width), float(side) / float(height)
    scale = torch.as_tensor([ratio_w, ratio_h, ratio_w, ratio_h], dtype=torch.float32)
    masks = sample.masks
    if masks is not None and len(masks):
        masks = tvf.resize(masks[:, None], [side, side])[:, 0]
    elif masks is not None:
        masks = masks.new_zeros(0, side, side)
    sample = _move_boxes(sample, lambda boxes: boxes * scale)
    return replace(
        sample,
        image=resize_image(sample.image, (side, side)),
        areas=[a * (ratio_w * ratio_h) for a in sample.areas],
        masks=masks,
    )


def _pad(sample: ConceptSample, left: int, top: int, right: int, bottom: int) -> ConceptSample:
    image = np.pad(sample.image, ((top, bottom), (left, right), (0, 0)))
    shift = torch.as_tensor([left, top, left, top], dtype=torch.float32)
    masks = sample.masks
    if masks is not None:
        masks = nnf.pad(masks, (left, right, top, bottom))
    return replace(_move_boxes(sample, lambda boxes: boxes + shift), image=image, masks=masks)


def _to_tensor(sample: ConceptSample) -> ConceptSample:
    pixels = torch.from_numpy(np.ascontiguousarray(sample.image)).permute(2, 0, 1)
    return replace(sample, image=pixels.to(torch.float32).div(255))


def _normalise(sample: ConceptSample) -> ConceptSample:
    """Pixels (x - 0.5) / 0.5; boxes (cx, cy, w, h) / the image's (W, H, W, H)."""
    height, width = sample.image.shape[-2:]
    size = torch.tensor([width, height, width, height], dtype=torch.float32)

    def normalised(boxes: torch.Tensor) -> torch.Tensor:
        x0, y0, x1, y1 = boxes.unbind(-1)
        return torch.stack([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0], dim=-1) / size

    return replace(_move_boxes(sample, normalised), image=(sample.image - 0.5) / 0.5)


def train_transform(
    sample: ConceptSample,
    rng: random.Random,
    *,
    resolution: int = RESOLUTION,
    scales: list[int] | None = None,
    with_masks: bool = False,
    max_instances: int = MAX_INSTANCES,
    exemplars: ExemplarSettings | None = None,
    noise: torch.Generator | None = None,
    view: View | None = None,
) -> ConceptSample:
    """Meta's training transforms (module docstring); NoQueryLeft when every query has more
    than max_instances instances. exemplars: exemplar boxes drawn after the crowd drop
    (concept_exemplars), their jitter from `noise`; None: text only. view: the (side, left, top)
    to place the image at instead of drawing it from `rng` (the trunk-map cache's pre-drawn
    views)."""
    scales = resize_scales(resolution) if scales is None else scales
    sample = drop_instances(sample, {r for r, crowd in enumerate(sample.crowd) if crowd})
    if exemplars is not None and exemplars.probability > 0:
        sample = add_exemplars(
            sample, exemplars, rng, noise if noise is not None else torch.Generator())
    if with_masks:
        sample = decode_masks(sample)
    view = draw_view(rng, resolution, scales) if view is None else view
    sample = _to_tensor(_placed(sample, view, resolution))
    sample = drop_instances(sample, {r for r, a in enumerate(sample.areas) if a < EMPTY_AREA})
    sample = _normalise(sample)
    return drop_queries(sample, [len(q.instances) <= max_instances for q in sample.queries])


def val_transform(
    sample: ConceptSample, *, resolution: int = RESOLUTION, with_masks: bool = False
) -> ConceptSample:
    """Meta's validation transforms: a resolution x resolution stretch and the normalisation."""
    if with_masks:
        sample = decode_masks(sample)
    sample = _normalise(_to_tensor(_resize_square(sample, resolution)))
    return replace(sample, view=stretch_view(resolution))


def stretch_view(resolution: int) -> View:
    """The validation stretch as a view: the whole S x S input, no padding (the same pixels)."""
    return (resolution, 0, 0)


def draw_view(rng: random.Random, resolution: int, scales: list[int]) -> View:
    """A training view (side, left, top), drawn as Meta's transforms draw it: ``choice(scales)``,
    then ``randint(0, S - side)`` for the left and the top padding."""
    side = rng.choice(scales)
    pad = resolution - side
    return side, rng.randint(0, pad), rng.randint(0, pad)


def _placed(sample: ConceptSample, view: View, resolution: int) -> ConceptSample:
    """The sample resized to its view's square and zero-padded to S x S at its offset."""
    side, left, top = view
    pad = resolution - side
    sample = _pad(_resize_square(sample, side), left, top, pad - left, pad - top)
    return replace(sample, view=tuple(view))


def view_input(image: np.ndarray, view: View, resolution: int = RESOLUTION) -> torch.Tensor:
    """The 3 x S x S normalised input of an H x W x 3 uint8 image in `view`: the pixels the
    transforms above give a sample of this image in that view (the trunk-map cache encodes
    these)."""
    height, width = image.shape[:2]
    bare = ConceptSample(image=image, boxes=torch.zeros(0, 4), areas=[], crowd=[],
                         segmentations=[], queries=[], image_id=0, original_size=(height, width))
    return _normalise(_to_tensor(_placed(bare, view, resolution))).image
