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
from pathlib import Path

import cv2
import numpy as np
import PIL
import torch
from torch.utils.data import ConcatDataset, Dataset

from samhq_train.data import (
    MASK_THRESHOLD,
    CocoInstanceDataset,
    DataError,
    EmptyMaskError,
    PairedFolderDataset,
    PromptedDataset,
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
    """sha256 of what sample `index` of a source is made of: its image and mask files (folders),
    its image file and annotation (COCO), else its decoded pixels. hash_files(*paths) hashes files
    (file_digest, or a FileDigestMemo that skips unchanged ones)."""
    if isinstance(source, ConcatDataset):
        for offset, part in zip([0, *source.cumulative_sizes], source.datasets):
            if index < offset + len(part):
                return content_digest(part, index - offset, hash_files)
    if isinstance(source, PairedFolderDataset):
        _, image_path, mask_path = source.pairs[index]
        return hash_files(image_path, mask_path)
    if isinstance(source, CocoInstanceDataset):
        ann = source.coco.anns[source.annotations[index]]
        info = source.coco.imgs[ann["image_id"]]
        return digest(hash_files(source.image_dir / info["file_name"]).encode() + json.dumps(ann, sort_keys=True).encode())
    item = source[index]
    h = digest(
        str(item["image"].shape).encode() + item["image"].tobytes() + str(item["mask"].shape).encode() + item["mask"].tobytes()
    )
    return h


def sample_name(source: Dataset, index: int) -> tuple[str, str]:
    """(dataset, name) of sample `index` without reading its files (decoded for other sources)."""
    if isinstance(source, ConcatDataset):
        for offset, part in zip([0, *source.cumulative_sizes], source.datasets):
            if index < offset + len(part):
                return sample_name(part, index - offset)
    if isinstance(source, PairedFolderDataset):
        return source.name, source.pairs[index][0]
    if isinstance(source, CocoInstanceDataset):
        ann = source.coco.anns[source.annotations[index]]
        stem = Path(source.coco.imgs[ann["image_id"]]["file_name"]).stem
        return source.name, f"{stem}_{ann['id']}"
    item = source[index]
    return item["dataset"], item["name"]


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
            return {"error": f"{self.name}/{sample['name']}: the cache entry says {entry['unusable']}"}
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
        return {"keys": self.keys[idx], "name": name, "dataset": dataset, "where": f"{dataset}/{name}"}


class CachedTrainDataset(PromptedDataset):
    """Training samples from the stored views; prompts drawn per visit (see the module docstring).
    The training RNG, its checkpointed state and the bad-sample handling are PromptedDataset's."""

    def __init__(self, base: PromptedDataset, store: FeatureStore, keys: list[list[str]],
                 names: list[tuple[str, str]]):
        super().__init__(
            _Views(keys, names), base.transform, base.prompts, train=True, strict=base.strict,
            seed=base.seed, name=base.name,
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
        if mask.max() <= MASK_THRESHOLD:
            raise EmptyMaskError(f"{raw['where']}: the object vanishes under augmentation")
        p = sample_prompts(mask, rng, self.prompts)
        return {
            "mask": mask,
            **vars(p),  # box, points, point_labels, noise_mask, type_draw, foreground_pixels
            "input_size": entry["input_size"],
            "name": raw["name"],
            "dataset": raw["dataset"],
            "features": _features(entry),
        }
