"""The trunk-map cache of concept fine-tuning with a frozen trunk (concept.policy=detector): SAM 3's
ViT trunk's map of each image in each view computed once, stored in the embedding cache's
FeatureStore (layout, atomic writes, CRC-32 checks: store.py) and built by its builder (claims,
progress, DDP shares, resuming: build.py), so training steps and validations read the maps
instead of running the trunk.

An entry is one image file in one view (side, left, top: data/concept_transforms.py): one tensor,
"maps" (C x g x g, the storage dtype). Its key holds the store id (format, family, variant,
input size, storage dtype, the sha256 of the trunk's weights), the sha256 of the image file and
the view transform's description (the view's geometry itself, the pixel arithmetic's version,
Pillow's and OpenCV's versions). Validation's stretch is the view (S, 0, 0): one entry per
image, shared with training at data.cache.views=0; views=K draws K views per image once
(ConceptDataset). Every read hashes the image file again (SourceCheck) and checks the entry's
bytes (FeatureStore.read); a failure is a load failure of that batch, one line naming the file.

    cache = ConceptTrunkCache.for_model(model, provenance, encode=trunk_maps, dir=...)
    cache.plan(train_set); cache.plan(val_set)   # the samples now carry `maps`
    trainer = L.Trainer(callbacks=[BuildEmbeddingCache(cache)], ...)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import PIL
import torch
from hydra.utils import to_absolute_path

from samhq_train.data.concept_transforms import View, view_input
from samhq_train.data.image_files import read_image
from samhq_train.data.sample_keys import SampleKey
from samhq_train.progress import track

from .build import EmbeddingCache, model_fingerprint, weights_sha256
from .datasets import SourceCheck, key_digest
from .store import digest

# the concept transforms' pixel arithmetic (resize, zero padding, (x / 255 - 0.5) / 0.5): bump
# when it changes, so that no entry of the old arithmetic is found
VIEW_ARITHMETIC = 1


@dataclass
class _ViewJob:
    material: dict
    path: Path
    view: View
    resolution: int


def trunk_fingerprint(model, provenance, dtype: str) -> dict:
    """What a trunk map depends on besides the image and its view: the trunk's weights (hashed
    whatever file they came from) and its early-fusion output choice."""
    out = {
        **model_fingerprint(model, provenance, dtype),
        "maps": "concept trunk",
        "trunk_sha256": weights_sha256(model.image_encoder.trunk),
    }
    if getattr(model, "early_fusion", False):
        out["early_block"] = int(model.early_block)
    return out


def view_transform_id(view: View, resolution: int) -> str:
    return digest({
        "view": list(view), "resolution": resolution, "arithmetic": VIEW_ARITHMETIC,
        "cv2": cv2.__version__, "PIL": PIL.__version__,
    })[:32]


class ConceptTrunkCache(EmbeddingCache):
    """The trunk maps of the images (and views) of a concept run's datasets. encode(model,
    images): the trunk's maps of B x 3 x S x S normalised images (module.trunk_maps)."""

    def __init__(self, root, fingerprint: dict, *, encode: Callable, batch_size: int = 4,
                 progress: bool = True):
        super().__init__(root, fingerprint, batch_size=batch_size, progress=progress)
        self.encode = encode

    @classmethod
    def for_model(cls, model, provenance, *, encode, dir, dtype="float32", batch_size=4,
                  progress=True):
        return cls(dir, trunk_fingerprint(model, provenance, dtype), encode=encode,
                   batch_size=batch_size, progress=progress)

    def plan(self, dataset) -> None:
        """Register the entries of a ConceptDataset's images and views (hashing each image file
        once; file_digests.json remembers them) and make its samples carry their maps."""
        images = dataset.coco.images
        used = dataset.image_views()
        keys: dict[tuple[int, View], str] = {}
        sample_keys, contents, row = [], [], {}
        for i in track(used, f"cache: hashing {Path(dataset.coco.annotation_file).name}",
                       enabled=self.progress, leave=False):
            image = images[i]
            sample = SampleKey("concept", str(image.id), (Path(image.path),))
            content = key_digest(sample, self.file_digests)
            row[image.id] = len(sample_keys)
            sample_keys.append(sample)
            contents.append(content)
            for view in used[i]:
                material = self.store.entry_material(
                    content, view_transform_id(view, dataset.resolution))
                key = digest(material)
                self.jobs.setdefault(key, _ViewJob(material, Path(image.path), tuple(view),
                                                   dataset.resolution))
                keys[image.id, tuple(view)] = key
        self.file_digests.save()
        dataset.use_maps(TrunkMaps(self.store, keys, row,
                                   SourceCheck(sample_keys, contents, self.file_digests.path)))

    def _encode(self, model, device, chunk: list[str], todo: set[str]) -> int:
        """Encode one batch (all of it: its bytes do not depend on what was there) and write the
        entries in `todo`."""
        if not todo:
            return 0
        jobs = [self.jobs[key] for key in chunk]
        images = torch.stack([view_input(read_image(j.path), j.view, j.resolution) for j in jobs])
        maps = self.encode(model, images.to(device))
        for j, (key, job) in enumerate(zip(chunk, jobs)):
            if key in todo:
                self.store.write(key, job.material, {"maps": maps[j]},
                                 input_size=(job.view[0], job.view[0]), source=str(job.path))
        return len(todo)


class TrunkMaps:
    """(image id, view) -> the stored trunk map (float32), its image file hashed again and its
    bytes checked; CacheError (one line naming the file) otherwise."""

    def __init__(self, store, keys: dict, row: dict, sources: SourceCheck):
        self.store, self.keys, self.row, self.sources = store, keys, row, sources

    def __call__(self, image_id: int, view: View) -> torch.Tensor:
        self.sources(self.row[image_id])
        entry = self.store.read(self.keys[image_id, tuple(view)])
        return entry["tensors"]["maps"].float()


def trunk_cache_from_config(cfg, model, provenance, *, encode, progress=True) -> ConceptTrunkCache:
    """The trunk-map cache of the ``data.cache`` settings (dir relative to the launch folder)."""
    return ConceptTrunkCache.for_model(
        model, provenance, encode=encode, dir=to_absolute_path(str(cfg["dir"])),
        dtype=str(cfg.get("dtype", "float32")), batch_size=int(cfg.get("batch_size", 4)),
        progress=progress)
