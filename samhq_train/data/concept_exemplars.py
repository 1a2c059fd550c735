"""Exemplar-box prompts for concept fine-tuning: with a probability, a query that has instances
is asked with one of its own instances' boxes as a positive exemplar ("find more like this"), as
Meta's TextQueryToVisual does (sam3 0.1.4), and that box is jittered as RandomizeInputBbox /
noise_box do; its phrase becomes "visual" (Meta's word for an exemplar-only query, the one our
ConceptPredictor sends with boxes alone) unless the text is kept.

Where: right after the crowd drop, before the masks and the random resize, where the recipe runs
RandomizeInputBbox: the box is a copy of the instance's (x0, y0, x1, y1) pixels in the file's
image, the noise is clamped to that image, and the resize, pad and normalisation then move the
exemplar with the targets (normalised cx, cy, w, h of the input square in the batch). Later drops
keep a query's exemplar (Meta's filters leave input boxes alone).

Randomness, as Meta draws: per query with instances, in order, ``rng.random()`` (asked when it
is <= probability) then ``rng.choice(instances)`` (Meta's module ``random``), and per exemplar
four ``torch.randn`` values from ``noise`` (Meta's global torch generator), none when the noise
std is 0. A probability of 0 draws nothing, so the text-only recipe's draws stay as they were."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

import torch

from samhq_train.settings import is_number, require

from .concept_sample import ConceptSample

__all__ = ["EXEMPLAR_PHRASE", "ExemplarSettings", "add_exemplars", "noise_box", "noise_seed"]

EXEMPLAR_PHRASE = "visual"  # TextQueryToVisual's query text when the text is not kept


def _at_least_zero(value) -> bool:
    return is_number(value) and value >= 0


@dataclass(frozen=True)
class ExemplarSettings:
    """probability: the chance a query with instances gets an exemplar box (0: text only, the
    recipe); keep_text: keep the phrase (text + box) instead of "visual" (box only);
    box_noise_std: the jitter's std relative to the box's side (Meta's box_noise_std);
    box_noise_max: the jitter's bound in pixels of the file's image (None: unbounded);
    min_box_area: a jittered box of this area or less (pixels) falls back to the exact box.
    Checked at construction: SettingError naming data.exemplar_<field>."""

    probability: float = 0.0
    keep_text: bool = False
    box_noise_std: float = 0.1  # the recipe's RandomizeInputBbox
    box_noise_max: float | None = 20.0
    min_box_area: float = 0.0

    def __post_init__(self) -> None:
        require("data.exemplar_probability", self.probability,
                lambda v: is_number(v) and 0 <= v <= 1, "a number from 0 to 1")
        require("data.exemplar_keep_text", self.keep_text, lambda v: isinstance(v, bool),
                "true or false")
        require("data.exemplar_box_noise_std", self.box_noise_std, _at_least_zero,
                "a number >= 0 (0: no jitter)")
        require("data.exemplar_box_noise_max", self.box_noise_max,
                lambda v: v is None or _at_least_zero(v), "a number >= 0 (pixels) or null")
        require("data.exemplar_min_box_area", self.min_box_area, _at_least_zero,
                "a number >= 0 (pixels)")


def noise_box(box: torch.Tensor, height: int, width: int, settings: ExemplarSettings,
              noise: torch.Generator) -> torch.Tensor:
    """The (x0, y0, x1, y1) box (4, fp32) jittered by std x its (w, h, w, h), each term bounded
    by box_noise_max, clamped to the image; the box itself when the jitter leaves an area
    <= min_box_area (or the std is 0: nothing drawn)."""
    if settings.box_noise_std <= 0:
        return box
    jitter = settings.box_noise_std * torch.randn(4, generator=noise)
    w, h = box[2] - box[0], box[3] - box[1]
    jitter = jitter * torch.stack([w, h, w, h])
    if settings.box_noise_max is not None:
        jitter = jitter.clamp(-settings.box_noise_max, settings.box_noise_max)
    jittered = torch.maximum(box + jitter, torch.zeros(4))
    jittered = torch.minimum(jittered, torch.tensor([width, height, width, height],
                                                    dtype=torch.float32))
    area = (jittered[2] - jittered[0]) * (jittered[3] - jittered[1])
    return box if area <= settings.min_box_area else jittered


def add_exemplars(sample: ConceptSample, settings: ExemplarSettings, rng: random.Random,
                  noise: torch.Generator) -> ConceptSample:
    """The sample (boxes in pixels, before the resize) with exemplar boxes drawn for its queries
    (module docstring)."""
    if settings.probability <= 0:
        return sample
    height, width = sample.image.shape[:2]
    queries = []
    for query in sample.queries:
        if query.instances and query.exemplar_box is None and (
                rng.random() <= settings.probability):
            row = rng.choice(query.instances)
            box = noise_box(sample.boxes[row].clone(), height, width, settings, noise)
            phrase = query.phrase if settings.keep_text else EXEMPLAR_PHRASE
            query = replace(query, phrase=phrase, exemplar_box=box.view(1, 4))
        queries.append(query)
    return replace(sample, queries=queries)


def noise_seed(base: str) -> int:
    """A torch seed from a string (the same in any process): the noise generator's of an item."""
    return random.Random(f"{base}:exemplar noise").getrandbits(63)
