"""EmbeddingCache: plans the entries a run needs, builds the missing ones with the frozen encoder,
and wraps the datamodule's datasets so that batches carry the cached features.

    cache = EmbeddingCache.for_model(model, provenance, dir="outputs/cache", views=0)
    datamodule.use_cache(cache)  # wraps the datasets (hashes each sample's files once)
    # builds in setup, every rank its share:
    trainer = L.Trainer(callbacks=[BuildEmbeddingCache(cache)], ...)

Training views: views=0 stores the deterministic evaluation transform of each training image (no
augmentation); views=K >= 1 stores K large-scale-jitter views per image, drawn once from a seed
made of (data.seed, view index, the image's content hash), and each visit takes one of the K.
"""

from __future__ import annotations

import copy
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from hydra.utils import to_absolute_path
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from samhq_train.data import (
    MAX_TRIES,
    DataError,
    EmptyMaskError,
    PromptedDataset,
    stack_images,
    transformed_sample,
)
from samhq_train.data.transforms import PairTransform, Transformed

from .datasets import (
    CachedEvalDataset,
    CachedTrainDataset,
    content_digest,
    sample_name,
    transform_id,
)
from .store import STORAGE_DTYPES, FeatureStore, FileDigestMemo, digest

log = logging.getLogger(__name__)


@dataclass
class _Job:
    material: dict
    source: Dataset
    index: int
    transform: PairTransform
    view_seed: list[int] | None


def encoder_fingerprint(model, provenance, dtype: str) -> dict:
    """What the stored features depend on besides the sample and its transform."""
    if dtype not in STORAGE_DTYPES:
        raise ValueError(f"data.cache.dtype={dtype!r}: expected one of {', '.join(STORAGE_DTYPES)}")
    out = {
        "family": model.family,
        "variant": provenance.variant,
        "image_size": int(model.image_size),
        "dtype": dtype,
        "base_sha256": provenance.base_sha256,
    }
    if provenance.base_sha256 is None:  # a seeded random base: the seed and its weights
        h = hashlib.sha256()
        for name, t in model.image_encoder.state_dict().items():
            h.update(
                name.encode() + t.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes()
            )
        out.update(seed=provenance.seed, encoder_sha256=h.hexdigest())
    return out


class EmbeddingCache:
    """The entries of one encoder (a FeatureStore) that a run's datasets need."""

    def __init__(
        self,
        root: str | Path,
        fingerprint: dict,
        *,
        views: int = 0,
        batch_size: int = 4,
        progress: bool = True,
    ):
        self.store = FeatureStore(root, fingerprint)
        self.file_digests = FileDigestMemo(root)
        self.views, self.batch_size, self.progress = int(views), int(batch_size), progress
        self.jobs: dict[str, _Job] = {}
        self._checked: set[str] = set()

    @classmethod
    def for_model(
        cls, model, provenance, *, dir, dtype="float32", views=0, batch_size=4, progress=True
    ):
        return cls(
            dir,
            encoder_fingerprint(model, provenance, dtype),
            views=views,
            batch_size=batch_size,
            progress=progress,
        )

    # ---- planning ------------------------------------------------------------------------------
    def _plan(
        self, dataset: PromptedDataset, transform: PairTransform, views: int | None
    ) -> list[list[str]]:
        """Each sample's entry keys (one, or one per view), registering what builds them."""
        tid, _ = transform_id(transform)
        out = []
        source = dataset.source
        for i in tqdm(
            range(len(source)),
            desc=f"cache: hashing {dataset.name}",
            unit="img",
            disable=not self.progress,
            leave=False,
        ):
            content = content_digest(source, i, self.file_digests)
            keys = []
            for view in [None] if views is None else range(views):
                seed = None if view is None else [dataset.seed, view]
                material = self.store.entry_material(content, tid, view, seed)
                key = digest(material)
                self.jobs.setdefault(key, _Job(material, source, i, transform, seed))
                keys.append(key)
            out.append(keys)
        self.file_digests.save()
        return out

    def wrap_eval(self, dataset: PromptedDataset) -> CachedEvalDataset:
        keys = self._plan(dataset, dataset.transform, None)
        return CachedEvalDataset(dataset, self.store, [k[0] for k in keys])

    def wrap_train(
        self, dataset: PromptedDataset, eval_transform: PairTransform
    ) -> CachedTrainDataset:
        """views=0: the evaluation transform's features (no augmentation); else K drawn views of the
        training transform (drawn from a copy, so the dataset's own RNG is untouched)."""
        if self.views == 0:
            keys = self._plan(dataset, eval_transform, None)
        else:
            keys = self._plan(dataset, copy.deepcopy(dataset.transform), self.views)
        names = [sample_name(dataset.source, i) for i in range(len(dataset.source))]
        return CachedTrainDataset(dataset, self.store, keys, names)

    # ---- building ------------------------------------------------------------------------------
    def missing(self, rank: int = 0, world_size: int = 1) -> list[str]:
        """Planned keys without a file, of process `rank`'s share: every world_size-th of all
        planned keys in one order, so that shares never depend on what others wrote already."""
        share = sorted(self.jobs)[rank::world_size]
        return [k for k in share if k not in self._checked and not self.store.has(k)]

    @torch.no_grad()
    def build(self, model, *, device=None, rank: int = 0, world_size: int = 1) -> int:
        """Encode and write the missing entries of this process's share; returns how many it
        wrote. Interrupted, it resumes: entries are written whole or not at all."""
        mine = self.missing(rank, world_size)
        device = torch.device(device) if device is not None else next(model.parameters()).device
        self.store.open()
        if mine:
            log.info(
                "embedding cache %s: this process builds %d of %d entries",
                self.store.folder,
                len(mine),
                len(self.jobs),
            )
        bar = tqdm(
            total=len(mine),
            desc="embedding cache",
            unit="img",
            disable=not self.progress or rank != 0,
        )
        for start in range(0, len(mine), self.batch_size):
            ready = []
            for key in mine[start : start + self.batch_size]:
                job = self.jobs[key]
                out = self._transformed(job)
                if isinstance(out, tuple):
                    self.store.write(key, job.material, None, unusable=out[0], error=out[1])
                else:
                    ready.append((key, job, out))
            if ready:
                images = stack_images([o.image for _, _, o in ready])
                content = [o.content_size for _, _, o in ready]
                features = model.encode(images.to(device), content).tensors()
                for j, (key, job, out) in enumerate(ready):
                    tensors = {name: t[j] for name, t in features.items()}
                    tensors["mask"] = torch.from_numpy(out.mask)
                    self.store.write(key, job.material, tensors, input_size=out.input_size)
            bar.update(len(mine[start : start + self.batch_size]))
        bar.close()
        self._checked.update(self.jobs)
        return len(mine)

    @staticmethod
    def _transformed(job: _Job) -> Transformed | tuple[str, str]:
        """The model-frame sample of a job by the sample recipe (a training view redrawn, as
        uncached training does, while its object vanishes; a view that never shows it is stored
        and refused when read), or (reason, "empty" | "data") when the sample is unusable."""
        tries = 1
        if job.view_seed is not None:
            content = int(job.material["content"][:16], 16)
            job.transform.set_random_state(np.random.default_rng([*job.view_seed, content]))
            tries = MAX_TRIES
        try:
            return transformed_sample(job.source[job.index], job.transform, tries=tries)
        except EmptyMaskError as err:
            return str(err), "empty"
        except DataError as err:
            return str(err), "data"


def cache_from_config(cfg, model, provenance, *, progress: bool = True) -> EmbeddingCache:
    """The cache of the ``data.cache`` settings for this model (dir relative to the launch
    folder)."""
    return EmbeddingCache.for_model(
        model,
        provenance,
        dir=to_absolute_path(str(cfg["dir"])),
        dtype=str(cfg.get("dtype", "float32")),
        views=int(cfg.get("views", 0)),
        batch_size=int(cfg.get("batch_size", 4)),
        progress=progress,
    )


class BuildEmbeddingCache(L.Callback):
    """Builds the missing entries when a fit / validate / test starts (Lightning's setup, after the
    datamodule's): every process its share on its own device, then all wait for each other."""

    def __init__(self, cache: EmbeddingCache) -> None:
        self.cache = cache

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        device = trainer.strategy.root_device
        pl_module.to(device)  # the strategy moves it there next anyway
        self.cache.build(
            pl_module.model, device=device, rank=trainer.global_rank, world_size=trainer.world_size
        )
        trainer.strategy.barrier("embedding_cache")
