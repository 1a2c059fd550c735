"""Datasets that serve samples from the embedding cache (the batch contract plus "features").

- CachedEvalDataset (validation / test / benchmark sets): the sample of the wrapped dataset, read
  and resized exactly as uncached (so prompts, GT and overlays are unchanged), plus the features
  of its image from the cache.
- CachedTrainDataset: no image is read. Each visit takes the sample's stored view (with K
  pre-drawn views, one drawn with the training RNG, so a run repeats under its seed) and draws the
  prompts from that view's stored mask with the training RNG, as the uncached path does after its
  transform; the loss is computed per step as always.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import PIL
import torch
from torch.utils.data import Dataset

from samhq_train.data import (
    DataError,
    EmptyMaskError,
    PromptedDataset,
    require_object,
    sample_key,
    sample_prompts,
)
from samhq_train.data.transforms import PairTransform

from .store import FeatureStore, digest, file_digest


def transform_id(transform: PairTransform) -> tuple[str, dict]:
    """(id, description) of a pair transform: every stage's albumentations description (class,
    every parameter, albumentations' version), the frame size and the libraries that resize."""
    desc = {
        "stages": [stage.to_dict() for stage in transform.stages],
        "image_size": transform.image_size,
        "keep_aspect": transform.keep_aspect,
        "zero_pad": transform.zero_pad,
        "cv2": cv2.__version__,
        "PIL": PIL.__version__,
    }
    return digest(desc)[:32], desc


def content_digest(source: Dataset, index: int, hash_files=file_digest) -> str:
    """sha256 of what sample `index` of a source is made of (its SampleKey): its files, with its
    annotation record when it has one (COCO); else, for a source that does not say, its decoded
    pixels. hash_files(*paths) hashes files (file_digest, or a FileDigestMemo that skips unchanged
    ones)."""
    key = sample_key(source, index)
    if key is None:
        item = source[index]
        image, mask = item["image"], item["mask"]
        return digest(
            str(image.shape).encode() + image.tobytes() + str(mask.shape).encode() + mask.tobytes()
        )
    files = hash_files(*key.files)
    if key.annotation is None:
        return files
    return digest(files.encode() + json.dumps(key.annotation, sort_keys=True).encode())


def sample_name(source: Dataset, index: int) -> tuple[str, str]:
    """(dataset, name) of sample `index` without reading its files (decoded for other sources)."""
    key = sample_key(source, index)
    if key is None:
        item = source[index]
        return item["dataset"], item["name"]
    return key.dataset, key.name


def _features(entry: dict) -> dict[str, torch.Tensor]:
    return {k: v for k, v in entry["tensors"].items() if k != "mask"}


class CachedEvalDataset(Dataset):
    """An evaluation PromptedDataset whose samples also carry their image's cached features."""

    def __init__(self, base: PromptedDataset, store: FeatureStore, keys: list[str]):
        self.base, self.store, self.keys = base, store, keys
        self.name = base.name

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, idx: int) -> dict:
        sample = self.base[idx]
        if "error" in sample or "skip" in sample:
            return sample
        entry = self.store.read(self.keys[idx])
        if "tensors" not in entry:  # the file changed since the entry was built
            where = f"{self.name}/{sample['name']}"
            return {"error": f"{where}: the cache entry says {entry['unusable']}"}
        sample["features"] = _features(entry)
        return sample


class _Views(Dataset):
    """The sources' items as the cache sees them: the keys of each sample's views."""

    def __init__(self, keys: list[list[str]], names: list[tuple[str, str]]):
        self.keys, self.names = keys, names

    def __len__(self) -> int:
        return len(self.keys)

    def __getitem__(self, idx: int) -> dict:
        dataset, name = self.names[idx]
        where = f"{dataset}/{name}"
        return {"keys": self.keys[idx], "name": name, "dataset": dataset, "where": where}


class CachedTrainDataset(PromptedDataset):
    """Training samples from the stored views; prompts drawn per visit (see the module docstring).
    The training RNG, its checkpointed state and the bad-sample handling are PromptedDataset's."""

    def __init__(
        self,
        base: PromptedDataset,
        store: FeatureStore,
        keys: list[list[str]],
        names: list[tuple[str, str]],
    ):
        super().__init__(
            _Views(keys, names),
            base.transform,
            base.prompts,
            train=True,
            strict=base.strict,
            seed=base.seed,
            name=base.name,
        )
        self.store = store

    def _sample(self, raw: dict, rng: np.random.Generator) -> dict:
        keys = raw["keys"]
        key = keys[int(rng.integers(len(keys)))] if len(keys) > 1 else keys[0]
        entry = self.store.read(key)
        if "tensors" not in entry:
            error = EmptyMaskError if entry["error"] == "empty" else DataError
            raise error(entry["unusable"])
        mask = entry["tensors"]["mask"].float().numpy()
        require_object(mask, raw["where"])
        p = sample_prompts(mask, rng, self.prompts)
        return {
            "mask": mask,
            **vars(p),  # box, points, point_labels, noise_mask, type_draw, foreground_pixels
            "input_size": entry["input_size"],
            "name": raw["name"],
            "dataset": raw["dataset"],
            "features": _features(entry),
        }
