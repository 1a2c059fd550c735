"""PromptedDataset: a source (or concatenation) turned into model-frame samples with all prompts.

Each item goes through the one sample recipe (sample.py), then its prompts are drawn. Randomness:
evaluation prompts are a function of (seed, index). Training augmentation and prompts come from
one numpy generator per (dataset, seed, rank, worker seed); the worker seed follows torch's global
RNG (``lightning.seed_everything``), so runs repeat under a seed and workers and ranks draw
independently. ``rng_state`` / ``set_rng_state`` let a resumed run continue that stream.

Bad samples: a DataError travels as data ({"error": message, "hint": ...}, raised in the main
process by the loader as one line, without a worker traceback). Training skips empty masks (and,
when not strict, unreadable samples) by taking the next index; lenient evaluation drops them
from the batch ({"skip": ...}), strict evaluation raises.
"""

from __future__ import annotations

import logging
import random
import zlib

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from .image_files import DataError, EmptyMaskError
from .prompts import PromptConfig, sample_prompts
from .sample import (
    MAX_TRIES,
    has_object,
    object_area_mask,
    require_object,
    transformed_sample,
)
from .transforms import PairTransform

log = logging.getLogger(__name__)


def strict_key(train: bool) -> str:
    """The config key that makes a training / evaluation set skip its bad files."""
    return "data.strict_train" if train else "data.strict_eval"


def skip_hint(train: bool) -> str:
    """What a strict set's bad file, found while the set is read, can also be answered with."""
    return (
        f"or set {strict_key(train)}=false to skip bad files (data.check_images=full checks "
        "every image before the run starts)"
    )


class PromptedDataset(Dataset):
    """A source (or concatenation) turned into model-frame samples with all prompts."""

    def __init__(
        self,
        source: Dataset,
        transform: PairTransform,
        prompts: PromptConfig,
        *,
        train: bool,
        strict: bool,
        seed: int = 0,
        name: str = "",
    ):
        self.source, self.transform, self.prompts = source, transform, prompts
        self.train, self.strict, self.seed, self.name = train, strict, int(seed), name
        self.rank = 0  # set by the datamodule so that ranks draw independently
        self._rng_key = None
        self._rng: np.random.Generator | None = None

    def __len__(self) -> int:
        return len(self.source)

    def _train_rng(self) -> np.random.Generator:
        info = get_worker_info()
        key = info.seed if info is not None else torch.initial_seed()
        if key != self._rng_key:  # new worker (or a dataset copied into one)
            salt = zlib.crc32(self.name.encode())
            self._rng = np.random.default_rng([self.seed, salt, self.rank, key])
            self.transform.set_random_state(self._rng)
            self._rng_key = key
        return self._rng

    def rng_state(self) -> dict | None:
        """The training RNG's state (None before its first draw), for checkpoints."""
        if self._rng is None:
            return None
        return {
            "rng_key": self._rng_key,
            "rng_state": self._rng.bit_generator.state,
            "py_random_state": self.transform.py_random.getstate(),
        }

    def set_rng_state(self, state: dict | None) -> None:
        """Continue the random stream of `rng_state()` (None: start it afresh at the next draw)."""
        if state is None:
            self._rng = self._rng_key = None
            return
        rng = np.random.default_rng()
        rng.bit_generator.state = state["rng_state"]
        py_random = random.Random()
        py_random.setstate(state["py_random_state"])
        self._rng, self._rng_key = rng, state["rng_key"]
        self.transform.set_random_state(rng, py_random)

    def __getitem__(self, idx: int) -> dict:
        if self.train:
            rng = self._train_rng()
        else:
            rng = np.random.default_rng([self.seed, idx])
        last = None
        for attempt in range(MAX_TRIES if self.train else 1):
            j = (idx + attempt) % len(self.source)
            try:
                return self._sample(self.source[j], rng)
            except DataError as e:
                last = e
                if self.strict and not (self.train and isinstance(e, EmptyMaskError)):
                    return {"error": str(e), "hint": skip_hint(self.train)}
                log.warning("skipping a sample: %s", e)
        if self.train:
            return {
                "error": f"{MAX_TRIES} unusable samples in a row from index {idx}; last: {last}"
            }
        return {"skip": str(last)}

    def _sample(self, raw: dict, rng: np.random.Generator) -> dict:
        out = transformed_sample(raw, self.transform, tries=MAX_TRIES if self.train else 1)
        if self.train:
            require_object(out.mask, raw["where"])
        if has_object(out.mask):
            p = sample_prompts(out.mask, rng, self.prompts)
        else:  # evaluation: the object vanished under the deterministic resize
            p = sample_prompts(object_area_mask(raw, out), rng, self.prompts, threshold=0)
        mask = raw["mask"]
        return {
            "image": out.image,
            "mask": out.mask,
            **vars(p),  # box, points, point_labels, noise_mask, type_draw, foreground_pixels
            "gt_original": mask,
            "original_size": tuple(mask.shape),
            "input_size": tuple(out.input_size),
            "content_size": tuple(out.content_size),
            "name": raw["name"],
            "dataset": raw["dataset"],
        }
