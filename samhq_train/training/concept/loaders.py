"""The data of a concept fine-tune from the `data` group (conf/data/coco_concept.yaml): the
concept demo written when data.concept_demo is set, and the train / validation loaders of the
files data/concept_files.py finds (a Roboflow export's root/train/, root/valid/ or explicit paths).

The training loader (data.loaders.EpochSeededLoader) sets its dataset's epoch and reseeds its
shuffle from (data.seed, epoch) each time an epoch's iterator is made, before any worker copies
the dataset (Meta's trainer calls set_epoch before it builds the epoch's loader): an epoch's
batches depend on the seed and the epoch only, so a resumed run draws what the uninterrupted one
drew, also from inside an epoch (its batches done dropped).

Under DDP each process reads its own share (ProcessShare): in training disjoint equal shares of
the epoch's permutation, which is the one-process run's, so that N processes of batch B see in
each step the images a one-process run of batch N x B sees; in validation, the items in order,
each once. A batch that fails to load is handed to the step as a LoadFailure
(data.loaders.batches_or_failures) instead of being raised by this process alone (the module
makes every process stop together with it)."""

from __future__ import annotations

from dataclasses import asdict

import torch
from torch.utils.data import DataLoader, DistributedSampler

from samhq_train.data.concept_batch import collate_concepts
from samhq_train.data.concept_dataset import VAL_CATEGORIES_PER_DATAPOINT, ConceptDataset
from samhq_train.data.concept_exemplars import ExemplarSettings
from samhq_train.data.concept_files import DataFiles, data_files
from samhq_train.data.concept_val_exemplars import ValExemplarSettings
from samhq_train.data.demo_concepts import ensure_concept_demo
from samhq_train.data.loaders import EpochSeededLoader, batches_or_failures, epoch_seed
from samhq_train.distributed import global_rank, world_size
from samhq_train.errors import ConfigValueError
from samhq_train.model_from_config import absolute_path


def write_concept_demo(data) -> None:
    """The concept demo written under data.root when data.concept_demo is set (its merges file
    is the demo's concept.bpe), unless it is there; its files are then found by data_files."""
    demo = data.get("concept_demo")
    if demo:
        ensure_concept_demo(absolute_path(data.root), **demo)


def share_size(items: int, processes: int) -> int:
    """The training items of one process in an epoch (ProcessShare, shuffled)."""
    return items // processes


class ProcessShare(DistributedSampler):
    """This process's share of a set, the process group read when the share is drawn (Lightning
    makes it after the loaders): in training (seed given) the permutation torch.randperm draws
    from (seed, epoch), cut to a multiple of the process count N, rank r taking its items r,
    r + N, ...: disjoint equal shares (DDP steps together), the permutation's last (len mod N)
    items sitting out that epoch as a one-process run with N times the batch leaves its last
    partial batch; in validation (seed None) items r, r + N, ... in order, each once (no padding:
    a repeated image would count twice in the metrics). A DistributedSampler, so that Lightning
    keeps it rather than putting its own in its place."""

    def __init__(self, dataset, seed: int | None = None) -> None:
        # not DistributedSampler's __init__: it asks for the process group, not there yet
        self.dataset, self.seed, self.epoch = dataset, seed, 0
        self.shuffle = seed is not None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def order(self) -> list[int]:
        """The whole set's order this epoch (every process draws the same)."""
        if self.seed is None:
            return list(range(len(self.dataset)))
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
        return torch.randperm(len(self.dataset), generator=generator).tolist()

    def indices(self) -> list[int]:
        processes, rank = world_size(), global_rank()
        order = self.order()
        if self.seed is not None:
            order = order[: processes * share_size(len(order), processes)]
        return order[rank::processes]

    def __iter__(self):
        return iter(self.indices())

    def __len__(self) -> int:
        processes, rank = world_size(), global_rank()
        if self.seed is not None:
            return share_size(len(self.dataset), processes)
        return len(range(rank, len(self.dataset), processes))


class ShareLoader(DataLoader):
    """A DataLoader that yields a LoadFailure for a batch that raised while loading (a bad
    image found by this process only), then goes on with the next one."""

    def __iter__(self):
        return batches_or_failures(super().__iter__(), len(self))  # told to all in module.py


class EpochLoader(EpochSeededLoader):
    """The concept training loader: an EpochSeededLoader (an epoch's batches from (data.seed,
    epoch) alone, resumable mid-epoch) that hands a batch that failed to load to the step as a
    LoadFailure, as ShareLoader does."""

    def __init__(self, *args, hands_over_failures: bool = True, **kwargs) -> None:
        super().__init__(*args, hands_over_failures=hands_over_failures, **kwargs)


def _int_or_none(data, key: str, default=None):
    value = data.get(key, default)
    return None if value is None else int(value)


def val_exemplars(data) -> ValExemplarSettings | None:
    """data.val_exemplars: validate exemplar prompts too (the text kept as data.exemplar_keep_text
    keeps it in training), or None (text queries only, the recipe)."""
    settings = ValExemplarSettings(enabled=data.get("val_exemplars", False),
                                   seed=data.get("seed", 0),
                                   keep_text=data.get("exemplar_keep_text", False))
    return settings if settings.enabled else None


def trunk_cache_views(data) -> int | None:
    """The training views with data.cache.enabled (data.cache.views: 0 = the validation stretch,
    K = K pre-drawn per image; ConceptDataset), else None (drawn per visit, the recipe)."""
    cache = data.get("cache") or {}
    return int(cache.get("views", 0)) if cache.get("enabled") else None


def concept_loaders(data, image_size: int, with_masks: bool, files: DataFiles | None = None
                    ) -> tuple[EpochLoader, DataLoader | None]:
    """(train loader, val loader or None) of `files` (None: data_files(data)); the jsons are
    read and checked here (one line for a bad file or setting), before the model."""
    exemplars = ExemplarSettings(**{  # data.exemplar_*, checked before any file is read
        name: data.get(f"exemplar_{name}", default)
        for name, default in asdict(ExemplarSettings()).items()})
    val_exemplars(data)  # checked here too, before any file is read
    files = files if files is not None else data_files(data)
    resolution = _int_or_none(data, "resolution") or image_size
    if resolution != image_size:
        raise ConfigValueError(f"data.resolution={resolution}: the model takes "
                               f"{image_size} x {image_size} images (null: the model's)")
    seed, workers = int(data.get("seed", 0)), int(data.get("num_workers", 0))
    common = dict(resolution=resolution, with_masks=with_masks,
                  include_negatives=bool(data.get("include_negatives", True)), seed=seed)
    train_set = ConceptDataset(
        files.train_annotation_file, files.train_image_dir, training=True, exemplars=exemplars,
        min_scale=int(data.get("min_scale", 480)),
        max_instances=int(data.get("max_instances", 200)),
        categories_per_datapoint=_int_or_none(data, "categories_per_datapoint"),
        num_images=_int_or_none(data, "num_images"), views=trunk_cache_views(data), **common)
    train = EpochLoader(train_set, batch_size=int(data.get("batch_size", 1)),
                        sampler=ProcessShare(train_set, seed), num_workers=workers,
                        collate_fn=collate_concepts, drop_last=True, seed=seed)
    if files.val_annotation_file is None:
        return train, None
    val_set = ConceptDataset(
        files.val_annotation_file, files.val_image_dir, training=False,
        categories_per_datapoint=_int_or_none(
            data, "val_categories_per_datapoint", VAL_CATEGORIES_PER_DATAPOINT),
        num_images=_int_or_none(data, "val_num_images"), **common)
    val = ShareLoader(val_set, batch_size=int(data.get("val_batch_size", 1)),
                      sampler=ProcessShare(val_set), num_workers=workers,
                      collate_fn=collate_concepts)
    return train, val
