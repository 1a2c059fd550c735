"""Datasets that serve samples from the embedding cache (the batch contract plus "features").

- CachedEvalDataset (validation / test / benchmark sets): the sample of the wrapped dataset, read
  and resized exactly as uncached (so prompts, GT and overlays are unchanged), plus the features
  of its image from the cache.
- CachedTrainDataset: no image is decoded. Each visit takes the sample's stored view (with K
  pre-drawn views, one drawn with the training RNG, so a run repeats under its seed) and draws the
  prompts from that view's stored mask with the training RNG, as the uncached path does after its
  transform; the loss is computed per step as always.

Both hash each sample's files again on every read (SourceCheck: bytes only, no decoding) and get
entries whose tensor bytes are checked against their digest (FeatureStore.read). What cannot be
used travels as a data error, {"error": one line}, raised by the loader in the main process.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import PIL
import torch
from torch.utils.data import Dataset

from samhq_train.data import (
    DataError,
    EmptyMaskError,
    PromptedDataset,
    SampleKey,
    require_object,
    sample_key,
    sample_prompts,
)
from samhq_train.data.transforms import PairTransform
from samhq_train.files import file_digest

from .store import CacheError, FeatureStore, digest


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


def key_digest(key: SampleKey, hash_files=file_digest) -> str:
    """sha256 of what a SampleKey names: its files, with its annotation record when it has one
    (COCO). hash_files(*paths) hashes files (file_digest, or a FileDigestMemo that skips unchanged
    ones)."""
    files = hash_files(*key.files)
    if key.annotation is None:
        return files
    return digest(files.encode() + json.dumps(key.annotation, sort_keys=True).encode())


def sample_content(source: Dataset, index: int, hash_files=file_digest) -> tuple[SampleKey | None, str]:
    """(SampleKey, sha256 of what sample `index` of a source is made of): key_digest of its key;
    for a source that does not say (no SampleKey: None), its decoded pixels."""
    key = sample_key(source, index)
    if key is None:
        item = source[index]
        image, mask = item["image"], item["mask"]
        return None, digest(
            str(image.shape).encode() + image.tobytes() + str(mask.shape).encode() + mask.tobytes()
        )
    return key, key_digest(key, hash_files)


def content_digest(source: Dataset, index: int, hash_files=file_digest) -> str:
    """The content half of sample_content."""
    return sample_content(source, index, hash_files)[1]


def portable_reason(reason: str, key: SampleKey | None) -> str:
    """An unusable sample's reason with its file paths replaced by placeholders: an entry is shared
    by every folder holding the same files, and each names its own (local_reason)."""
    if key is None:
        return reason
    for i, path in sorted(enumerate(map(str, key.files)), key=lambda p: -len(p[1])):
        reason = reason.replace(path, f"<<file{i}>>")
    return reason


def local_reason(reason: str, key: SampleKey | None) -> str:
    """portable_reason's placeholders replaced by this sample's file paths."""
    if key is None:
        return reason
    for i, path in enumerate(map(str, key.files)):
        reason = reason.replace(f"<<file{i}>>", path)
    return reason


class SourceCheck:
    """The samples' files hashed again where their entries are read: a stale or edited
    file_digests.json record (or a file changed since planning) would serve another content's
    features. Samples without a SampleKey were hashed from their pixels at planning, no record."""

    def __init__(self, keys: list[SampleKey | None], contents: list[str], sidecar: Path):
        self.keys, self.contents, self.sidecar = keys, contents, sidecar

    def __call__(self, index: int) -> SampleKey | None:
        key = self.keys[index]
        if key is None:
            return None
        try:
            now = key_digest(key)
        except OSError as err:
            raise CacheError(
                f"{err.filename or key.files[0]}: cannot be read ({err.strerror}) although its "
                "cache entry was planned from it: restore it, or remove the sample"
            ) from None
        if now != self.contents[index]:
            files = ", ".join(map(str, key.files))
            raise CacheError(
                f"{files}: not what the cache entry was planned from (changed since planning, or "
                f"a stale or edited record in {self.sidecar}); its entry is not used: delete "
                f"{self.sidecar} and run again"
            )
        return key


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
    """An evaluation PromptedDataset whose samples also carry their image's cached features. A
    cache entry that cannot be used is a data error ({"error": one line}, raised by the loader in
    the main process)."""

    def __init__(self, base: PromptedDataset, store: FeatureStore, keys: list[str], sources: SourceCheck):
        self.base, self.store, self.keys, self.sources = base, store, keys, sources
        self.name = base.name

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, idx: int) -> dict:
        sample = self.base[idx]
        if "error" in sample or "skip" in sample:
            return sample
        try:
            key = self.sources(idx)
            entry = self.store.read(self.keys[idx])
        except CacheError as err:
            return {"error": str(err)}
        if "tensors" not in entry:  # the file changed since the entry was built
            where = f"{self.name}/{sample['name']}"
            reason = local_reason(entry["unusable"], key)
            return {"error": f"{where}: the cache entry says {reason}"}
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
        return {"keys": self.keys[idx], "name": name, "dataset": dataset, "where": where, "index": idx}


class CachedTrainDataset(PromptedDataset):
    """Training samples from the stored views; prompts drawn per visit (see the module docstring).
    The training RNG, its checkpointed state and the bad-sample handling are PromptedDataset's; a
    cache entry that cannot be used is a data error ({"error": one line}), never skipped."""

    def __init__(
        self,
        base: PromptedDataset,
        store: FeatureStore,
        keys: list[list[str]],
        names: list[tuple[str, str]],
        sources: SourceCheck,
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
        self.store, self.sources = store, sources

    def __getitem__(self, idx: int) -> dict:
        try:
            return super().__getitem__(idx)
        except CacheError as err:
            return {"error": str(err)}

    def _sample(self, raw: dict, rng: np.random.Generator) -> dict:
        keys = raw["keys"]
        key = keys[int(rng.integers(len(keys)))] if len(keys) > 1 else keys[0]
        sample = self.sources(raw["index"])
        entry = self.store.read(key)
        if "tensors" not in entry:
            error = EmptyMaskError if entry["error"] == "empty" else DataError
            raise error(local_reason(entry["unusable"], sample))
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
