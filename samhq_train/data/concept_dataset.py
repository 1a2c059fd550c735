"""ConceptDataset: a COCO-format detection set as concept fine-tuning datapoints (Meta's
Sam3ImageDataset with the recipe's loader and transforms; see concept_coco, concept_transforms).

The json and the images' headers are checked in the constructor (ConceptDataError, before any
model work). An item is a transformed ConceptSample; ``collate_concepts`` batches them.

Randomness: item i of epoch e draws from its own ``random.Random("<seed>:<e>:<i>")`` (a string
seed: the same stream in any process, worker or rank, independent of the order items are read),
so a run repeats under a seed and resumes exactly from (epoch, position); the exemplar boxes'
jitter draws from a torch.Generator seeded from the same string (concept_exemplars.noise_seed).
``set_epoch`` sets e (call it before the epoch's loader iterator is created: workers copy the
dataset then).

Views (the trunk-map cache, data.cache.views): a training set made with ``views=K`` places each
image, instead of at a square side and offset drawn per visit, at one of K views (side, left,
top) drawn once per image from ``random.Random("<seed>:view<v>:<image id>")`` (Meta's draws),
the visit choosing one with its own random stream; ``views=0`` at the validation stretch. The
cache then holds one trunk map per image and view, and a run without the cache given the same
views trains the same batches."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import torch
from torch.utils.data import Dataset

from samhq_train.settings import int_at_least, is_int, require

from .concept_coco import ConceptDataError, concept_datapoints, read_concept_coco
from .concept_exemplars import ExemplarSettings, noise_seed
from .concept_sample import ConceptSample, load_sample
from .concept_transforms import (
    MAX_INSTANCES,
    MIN_SCALE,
    RESOLUTION,
    NoQueryLeft,
    View,
    draw_view,
    resize_scales,
    stretch_view,
    train_transform,
    val_transform,
)

__all__ = ["ConceptDataset", "VAL_CATEGORIES_PER_DATAPOINT"]

VAL_CATEGORIES_PER_DATAPOINT = 2  # the recipe's validation category_chunk_size
MAX_RETRIES = 100  # Meta's: datapoints tried after one is left without queries


def _check_settings(resolution, min_scale, categories_per_datapoint, max_instances, num_images,
                    seed) -> None:
    """SettingError (key data.<argument>) for a setting out of range (min_scale None: not
    used, in validation)."""
    int_at_least("data.resolution", resolution, 32)
    largest = 32 * (resolution // 32)  # the largest random square side
    if min_scale is not None:
        require("data.min_scale", min_scale, lambda v: is_int(v) and 1 <= v <= largest,
                f"an integer from 1 to {largest} (the random square sides are the multiples of "
                "32 from it to data.resolution)")
    for key, value, low in (("categories_per_datapoint", categories_per_datapoint, 1),
                            ("num_images", num_images, 1)):
        if value is not None:
            int_at_least(f"data.{key}", value, low, note="or null: all")
    int_at_least("data.max_instances", max_instances, 0)
    require("data.seed", seed, is_int, "an integer")


class ConceptDataset(Dataset):
    """Args:
        annotation_file, image_dir: the COCO json and the folder its file_names are relative to.
        training: the training transforms (random square resize + pad, crowd / empty / too-many
            drops) or the validation ones (a resolution x resolution stretch).
        resolution: S, the model's input side (1008 for SAM 3).
        min_scale: the smallest random square side in training (480).
        with_masks: decode the instances' masks (the recipe trains boxes only: False).
        include_negatives: query every category of a datapoint, also those the image has no
            instance of (Meta's COCO_FROM_JSON default, the recipe's train and validation).
        categories_per_datapoint: categories per datapoint (None: all; the recipe validates
            with VAL_CATEGORIES_PER_DATAPOINT).
        max_instances: in training, a query with more instances is dropped (200).
        num_images: keep only this many datapoints, Meta's limit_ids draw (None: all).
        seed: the base of the random draws (module docstring).
        exemplars: in training, exemplar-box prompts drawn for queries (ExemplarSettings;
            None: text only, the recipe).
        views: in training, None: a view drawn per visit (the recipe); K >= 1: one of K views
            pre-drawn per image; 0: the validation stretch (module docstring)."""

    def __init__(
        self,
        annotation_file: str | Path,
        image_dir: str | Path,
        *,
        training: bool,
        resolution: int = RESOLUTION,
        min_scale: int = MIN_SCALE,
        with_masks: bool = False,
        include_negatives: bool = True,
        categories_per_datapoint: int | None = None,
        max_instances: int = MAX_INSTANCES,
        num_images: int | None = None,
        seed: int = 0,
        exemplars: ExemplarSettings | None = None,
        views: int | None = None,
    ):
        _check_settings(resolution, min_scale if training else None, categories_per_datapoint,
                        max_instances, num_images, seed)
        if views is not None:
            int_at_least("data.cache.views", views, 0, note="0: the validation stretch")
        self.coco = read_concept_coco(annotation_file, image_dir)
        self.datapoints = concept_datapoints(
            self.coco, categories_per_datapoint=categories_per_datapoint,
            include_negatives=include_negatives, num_images=num_images,
        )
        self.training, self.resolution, self.with_masks = training, resolution, with_masks
        self.include_negatives, self.max_instances = include_negatives, max_instances
        self.scales = resize_scales(resolution, min_scale) if training else []
        self.seed, self.epoch = int(seed), 0
        self.exemplars = exemplars if training else None
        self.views = views if training else None
        self.maps_of = None  # (image id, view) -> its trunk map (use_maps)

    def __len__(self) -> int:
        return len(self.datapoints)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __getitem__(self, index: int) -> ConceptSample:
        draws = f"{self.seed}:{self.epoch}:{index}"
        noise = torch.Generator().manual_seed(noise_seed(draws))
        sample = self.sample(index, random.Random(draws), noise)
        if self.maps_of is not None:
            sample = replace(sample, maps=self.maps_of(sample.image_id, sample.view))
        return sample

    def use_maps(self, maps_of) -> None:
        """Samples carry maps_of(image id, view), their trunk map (the cache's reader)."""
        self.maps_of = maps_of

    def image_views(self) -> dict[int, list[View]]:
        """Each image index the datapoints use -> the views its samples can take: the
        validation stretch, or in training the pre-drawn views (views set)."""
        if self.training and self.views is None:
            raise ValueError("a training set draws its views per visit: make it with views")
        used = sorted({image_index for image_index, _ in self.datapoints})
        return {i: self._views_of(i) for i in used}

    def _views_of(self, image_index: int) -> list[View]:
        if not self.training or self.views == 0:
            return [stretch_view(self.resolution)]
        image_id = self.coco.images[image_index].id
        return [draw_view(random.Random(f"{self.seed}:view{v}:{image_id}"), self.resolution,
                          self.scales) for v in range(self.views)]

    def _view(self, image_index: int, rng: random.Random) -> View | None:
        """A training visit's view: None (drawn by the transform), else one of the image's."""
        if self.views is None:
            return None
        views = self._views_of(image_index)
        return views[rng.randrange(len(views))]

    def sample(self, index: int, rng: random.Random,
               noise: torch.Generator | None = None) -> ConceptSample:
        """Datapoint `index` transformed with draws from `rng` (and the exemplar boxes' jitter
        from `noise`); in training, a datapoint left without queries gives way to the next one,
        drawing on (Meta's retry)."""
        for _ in range(MAX_RETRIES):
            image_index, category_ids = self.datapoints[index]
            raw = load_sample(self.coco, image_index, category_ids, self.include_negatives)
            if not self.training:
                return val_transform(raw, resolution=self.resolution, with_masks=self.with_masks)
            try:
                return train_transform(
                    raw, rng, resolution=self.resolution, scales=self.scales,
                    with_masks=self.with_masks, max_instances=self.max_instances,
                    exemplars=self.exemplars, noise=noise, view=self._view(image_index, rng),
                )
            except NoQueryLeft:
                index = (index + 1) % len(self)
        raise ConceptDataError(
            f"{self.coco.annotation_file}: {MAX_RETRIES} datapoints in a row kept no query (each "
            f"has more than max_instances={self.max_instances} instances); raise max_instances"
        )
