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
import time
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import numpy as np
import torch
from hydra.utils import to_absolute_path
from torch.utils.data import Dataset

from samhq_train.data import (
    MAX_TRIES,
    DataError,
    EmptyMaskError,
    PromptedDataset,
    sample_key,
    stack_images,
    transformed_sample,
)
from samhq_train.data.transforms import PairTransform, Transformed
from samhq_train.distributed import gather_from_ranks, stop_together
from samhq_train.progress import Progress, track

from . import claims
from .datasets import (
    CachedEvalDataset,
    CachedTrainDataset,
    SourceCheck,
    key_digest,
    portable_reason,
    sample_content,
    sample_name,
    transform_id,
)
from .sidecar import FileDigestMemo
from .store import (
    MISSING,
    STORAGE_DTYPES,
    CacheError,
    FeatureStore,
    check_cache_dir,
    digest,
)

log = logging.getLogger(__name__)
CLAIM_POLL_S = 0.5  # how often a builder looks at batches other builders hold


@dataclass
class _Job:
    material: dict
    source: Dataset
    index: int
    transform: PairTransform
    view_seed: list[int] | None


def model_fingerprint(model, provenance, dtype: str) -> dict:
    """The model and storage fields every cache's fingerprint starts with (a bad dtype refused)."""
    if dtype not in STORAGE_DTYPES:
        raise ValueError(f"data.cache.dtype={dtype!r}: expected one of {', '.join(STORAGE_DTYPES)}")
    return {
        "family": model.family,
        "variant": provenance.variant,
        "image_size": int(model.image_size),
        "dtype": dtype,
    }


def encoder_fingerprint(model, provenance, dtype: str) -> dict:
    """What the stored features depend on besides the sample and its transform."""
    out = {**model_fingerprint(model, provenance, dtype), "base_sha256": provenance.base_sha256}
    if provenance.base_sha256 is None:  # a seeded random base: the seed and its weights
        out.update(seed=provenance.seed, encoder_sha256=weights_sha256(model.image_encoder))
    return out


def weights_sha256(module: torch.nn.Module) -> str:
    """sha256 of a module's state: each tensor's name and bytes, in state_dict order."""
    h = hashlib.sha256()
    for name, t in module.state_dict().items():
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


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
        check_cache_dir(root)
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
    ) -> tuple[list[list[str]], SourceCheck]:
        """Each sample's entry keys (one, or one per view), registering what builds them, and the
        check of the samples' files on reading."""
        tid, _ = transform_id(transform)
        out, sample_keys, contents = [], [], []
        source = dataset.source
        for i in track(
            range(len(source)), f"cache: hashing {dataset.name}", enabled=self.progress, leave=False
        ):
            sample, content = sample_content(source, i, self.file_digests)
            sample_keys.append(sample)
            contents.append(content)
            keys = []
            for view in [None] if views is None else range(views):
                seed = None if view is None else [dataset.seed, view]
                material = self.store.entry_material(content, tid, view, seed)
                key = digest(material)
                self.jobs.setdefault(key, _Job(material, source, i, transform, seed))
                keys.append(key)
            out.append(keys)
        self.file_digests.save()
        return out, SourceCheck(sample_keys, contents, self.file_digests.path)

    def wrap_eval(self, dataset: PromptedDataset) -> CachedEvalDataset:
        keys, sources = self._plan(dataset, dataset.transform, None)
        return CachedEvalDataset(dataset, self.store, [k[0] for k in keys], sources)

    def wrap_train(
        self, dataset: PromptedDataset, eval_transform: PairTransform
    ) -> CachedTrainDataset:
        """views=0: the evaluation transform's features (no augmentation); else K drawn views of the
        training transform (drawn from a copy, so the dataset's own RNG is untouched)."""
        if self.views == 0:
            keys, sources = self._plan(dataset, eval_transform, None)
        else:
            keys, sources = self._plan(dataset, copy.deepcopy(dataset.transform), self.views)
        names = [sample_name(dataset.source, i) for i in range(len(dataset.source))]
        return CachedTrainDataset(dataset, self.store, keys, names, sources)

    # ---- building ------------------------------------------------------------------------------
    def chunks(self, rank: int = 0, world_size: int = 1) -> list[list[str]]:
        """Process `rank`'s encoder batches: all planned keys in one order cut into batches of
        batch_size, every world_size-th batch. Every build of a plan (one process, DDP ranks,
        concurrent builders, a resumed build) encodes the same batches, hence the same bytes."""
        keys = sorted(self.jobs)
        batches = [keys[i : i + self.batch_size] for i in range(0, len(keys), self.batch_size)]
        return batches[rank::world_size]

    def missing(self, rank: int = 0, world_size: int = 1) -> list[str]:
        """Keys of process `rank`'s share without a sound entry (absent, or a header that fails
        FeatureStore.inspect: truncated, garbled, another key or format), so never read."""
        return [
            k
            for chunk in self.chunks(rank, world_size)
            for k in chunk
            if k not in self._checked and self.store.inspect(k) is not None
        ]

    @torch.no_grad()
    def build(self, model, *, device=None, rank: int = 0, world_size: int = 1) -> int:
        """Encode and write the missing entries of this process's share; returns how many it
        wrote. Interrupted, it resumes: entries are written whole or not at all. Concurrent
        builders share the work batch by batch through claim files (claims.py); a batch another
        process holds is waited for."""
        mine = set(self.missing(rank, world_size))
        pending = [c for c in self.chunks(rank, world_size) if mine.intersection(c)]
        device = torch.device(device) if device is not None else next(model.parameters()).device
        self.store.open()
        for key in sorted(mine):
            problem = self.store.inspect(key)
            if problem not in (None, MISSING):
                log.warning("embedding cache entry %s: %s; rebuilding it", self.store.path(key), problem)
        if mine:
            log.info(
                "embedding cache %s: this process builds %d of %d entries",
                self.store.folder,
                len(mine),
                len(self.jobs),
            )
        bar = Progress(len(mine), "embedding cache", enabled=self.progress and rank == 0)
        written, announced = 0, False
        while pending:
            waiting = []
            for chunk in pending:
                todo = [k for k in chunk if k in mine and self.store.inspect(k) is not None]
                if todo:
                    claim = self.store.claims / f"{digest(chunk)[:32]}.claim"
                    if not claims.take(claim):
                        waiting.append(chunk)
                        continue
                    try:  # checked again: the claim's last holder may have finished it
                        todo = [k for k in todo if self.store.inspect(k) is not None]
                        for key in todo:  # what a killed builder left
                            self.store.remove_partial(key)
                        written += self._encode(model, device, chunk, set(todo))
                    finally:
                        claims.release(claim)
                bar.update(len(mine.intersection(chunk)))
            if waiting:
                if len(waiting) != len(pending) or not announced:
                    log.info(
                        "embedding cache %s: waiting for %d batches another process is building",
                        self.store.folder,
                        len(waiting),
                    )
                    announced = True
                time.sleep(CLAIM_POLL_S)
            pending = waiting
        bar.close()
        self._checked.update(self.jobs)
        return written

    def _encode(self, model, device, chunk: list[str], todo: set[str]) -> int:
        """Encode one batch (all of it, so that its bytes do not depend on what was there) and write
        the entries in `todo`; returns how many."""
        if not todo:
            return 0
        ready = []
        for key in chunk:
            job = self.jobs[key]
            out = self._transformed(job)
            if key in todo:
                self._check_built_from(job)
            if isinstance(out, tuple):
                if key in todo:
                    reason = portable_reason(out[0], sample_key(job.source, job.index))
                    self.store.write(key, job.material, None, unusable=reason, error=out[1])
            else:
                ready.append((key, job, out))
        if ready:
            images = stack_images([o.image for _, _, o in ready])
            content = [o.content_size for _, _, o in ready]
            features = model.encode(images.to(device), content).tensors()
            for j, (key, job, out) in enumerate(ready):
                if key not in todo:
                    continue
                tensors = {name: t[j] for name, t in features.items()}
                tensors["mask"] = torch.from_numpy(out.mask)
                where = sample_name(job.source, job.index)
                self.store.write(key, job.material, tensors, input_size=out.input_size,
                                 source="/".join(where))
        return len(todo)

    def _check_built_from(self, job: _Job) -> None:
        """The files just read for an entry must be the content its key names (a stale
        file_digests.json record would file them under another content's key)."""
        key = sample_key(job.source, job.index)
        if key is not None and key_digest(key) != job.material["content"]:
            files = ", ".join(map(str, key.files))
            raise CacheError(
                f"{files}: not what the cache planned from (changed since planning, or a stale or "
                f"edited record in {self.file_digests.path}): delete {self.file_digests.path} and "
                "run again"
            )

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
    datamodule's): every process its share on its own device, then all wait for each other. A
    build that fails in one process (a full disk, a changed file) stops every process there, each
    with one line (distributed.stop_together)."""

    def __init__(self, cache: EmbeddingCache) -> None:
        self.cache = cache

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        device = trainer.strategy.root_device
        pl_module.to(device)  # the strategy moves it there next anyway
        plans = set(gather_from_ranks(digest(sorted(self.cache.jobs))))
        if len(plans) > 1:  # the shares would leave entries to nobody
            raise RuntimeError(
                "embedding cache: the DDP processes planned different entries (a bug: every "
                "process must wrap the same datasets before the build)"
            )
        stop_together(
            lambda: self.cache.build(
                pl_module.model, device=device, rank=trainer.global_rank,
                world_size=trainer.world_size,
            )
        )
        trainer.strategy.barrier("embedding_cache")
