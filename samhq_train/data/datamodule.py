"""LightningDataModule: sources -> transforms -> prompts -> batches (the batch contract).

Build it from the ``data`` config group and the model's image size::

    dm = build_datamodule(cfg.data, image_size=model.image_size)

Training uses the concatenation of ``train_sets``; validation and test get one dataloader per
set, in config order (``dm.val_names`` / ``dm.test_names``; each batch also carries its
``dataset`` names). Under DDP, Lightning swaps in DistributedSamplers (shuffled for training,
in order for evaluation), so every rank sees its own shard.

The jobs live beside it: the sample recipe (sample.py), the prompted datasets and their random
streams (prompted.py), the sets built from config (sets.py), batches (batch.py) and the loaders,
the training one resumable mid-epoch (loaders.py). A resumed run continues the random streams:
the datamodule's state_dict holds every process's main-process training RNG, the training
loader's the state its epoch started from, so that a run resumed mid-epoch sees the batches it
would have seen.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence

import lightning as L
import torch
from torch.utils.data import DistributedSampler

from samhq_train import image_header
from samhq_train.distributed import gather_from_ranks, global_rank

from .batch import Collate
from .demo import ensure_demo_data
from .image_files import DataError
from .loaders import SampleLoader, TrainLoader
from .prompted import PromptedDataset
from .prompts import PromptConfig
from .roots import check_data_root, data_root_path, plain_data_config
from .sets import CHECK_IMAGES, evaluation_sets, set_name, training_set
from .transform_builders import build_eval_transform, build_train_transform


class EvaluationShard(DistributedSampler):
    """A process's share of an evaluation set: samples rank, rank + N, ... (N processes), each
    sample in one share only (no padding: a repeated image would count twice in a set's mean);
    a process past the set's end has an empty share. A DistributedSampler, so that Lightning
    keeps it."""

    def __init__(self, dataset, num_replicas: int, rank: int) -> None:
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=False)
        self.indices = list(range(rank, len(dataset), num_replicas))
        self.num_samples = self.total_size = len(self.indices)

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


class SegmentationDataModule(L.LightningDataModule):
    """Train / val / test dataloaders producing the batch contract for image size S.

    Args:
        image_size: S, the model's input size (1024 for ViT-B/L/H, 256 for the tiny model).
        train_sets, val_sets, test_sets: lists of dataset specs (see ``datasets.build_source``);
            ``test_sets=None`` means the val sets.
        root: folder that relative set paths start from (relative roots start at the launch
            directory, also under Hydra).
        strict_train / strict_eval: error policy for bad files (see the module docstring).
        max_image_pixels: the pixel limit of the image reader (image_header.set_max_image_pixels, for
            this process and its loader workers); None: keep the current one (default 100 MP).
        check_images: what the check before a run reads of each image (sets.check_set_files):
            "header" (the evaluation sets' headers) or "full" (every image of every set decoded).
        train_transform: kwargs of ``build_train_transform``; eval_transform: of
            ``build_eval_transform``; prompts: fields of ``PromptConfig``.
        demo: kwargs of ``ensure_demo_data``: generate the demo set under ``root`` if missing.
        cache: the ``data.cache`` settings (samhq_train/cache), accepted with the group and
            read by the entry point that holds the model (cache_from_config); the datamodule
            only serves what ``use_cache`` binds.
    """

    def __init__(
        self,
        image_size: int,
        *,
        train_sets: Sequence[Mapping] = (),
        val_sets: Sequence[Mapping] = (),
        test_sets: Sequence[Mapping] | None = None,
        root: str | None = None,
        batch_size: int = 4,
        val_batch_size: int = 1,
        num_workers: int = 0,
        pin_memory: bool = True,
        persistent_workers: bool = False,
        strict_train: bool = False,
        strict_eval: bool = True,
        max_image_pixels: int | None = None,
        check_images: str = "header",
        train_transform: Mapping | None = None,
        eval_transform: Mapping | None = None,
        prompts: Mapping | None = None,
        seed: int = 0,
        demo: Mapping | None = None,
        cache: Mapping | None = None,
    ):
        super().__init__()  # no save_hyperparameters: keys like seed would clash with the module's
        # an evaluation set smaller than the process count gives some processes no batch of it
        self.allow_zero_length_dataloader_with_multiple_devices = True
        self.image_size = int(image_size)
        self.root = data_root_path(root)
        self.train_specs = _set_specs(train_sets, "train_sets")
        self.val_specs = _set_specs(val_sets, "val_sets")
        self.test_specs = self.val_specs if test_sets is None else _set_specs(test_sets, "test_sets")
        self.batch_size, self.val_batch_size = int(batch_size), int(val_batch_size)
        self.num_workers = int(num_workers)
        self.pin_memory = bool(pin_memory) and torch.cuda.is_available()
        self.persistent_workers = bool(persistent_workers) and self.num_workers > 0
        self.strict_train, self.strict_eval = bool(strict_train), bool(strict_eval)
        if max_image_pixels is not None:
            image_header.set_max_image_pixels(int(max_image_pixels), "data.max_image_pixels")
        if check_images not in CHECK_IMAGES:
            raise DataError(f"data.check_images={check_images}: expected one of {CHECK_IMAGES}")
        self.check_images = check_images
        self.train_transform_cfg = dict(train_transform or {})
        self.eval_transform_cfg = dict(eval_transform or {})
        self.prompt_cfg = PromptConfig(**dict(prompts or {}))
        self.seed = int(seed)
        self.demo = None if demo is None else dict(demo)
        self.feature_cache = None  # bound by use_cache
        self.train_set: PromptedDataset | None = None
        self.val_sets: list[PromptedDataset] = []
        self.test_sets: list[PromptedDataset] = []

    def use_cache(self, cache) -> None:
        """Serve features from `cache` (samhq_train.cache.build.EmbeddingCache): datasets set up from
        now on, and those already set up, are wrapped by its wrap_train / wrap_eval."""
        if self.feature_cache is not None:
            raise RuntimeError("use_cache: this datamodule already serves an embedding cache")
        self.feature_cache = cache
        if self.train_set is not None:
            self.train_set = self._cached_train(self.train_set)
        self.val_sets = [cache.wrap_eval(ds) for ds in self.val_sets]
        self.test_sets = [cache.wrap_eval(ds) for ds in self.test_sets]

    def _cached_train(self, dataset: PromptedDataset):
        eval_transform = build_eval_transform(self.image_size, **self.eval_transform_cfg)
        return self.feature_cache.wrap_train(dataset, eval_transform)

    @property
    def val_names(self) -> list[str]:
        return [set_name(s) for s in self.val_specs]

    @property
    def test_names(self) -> list[str]:
        return [set_name(s) for s in self.test_specs]

    def state_dict(self) -> dict:
        """The training RNG of every process's main process (it draws augmentations and prompts
        when num_workers=0; index = global rank: the checkpoint is rank 0's, and each process
        draws its own stream), so that a resumed run continues the same random streams. Worker
        processes reseed from Lightning's per-epoch seeds and need nothing here."""
        own = self.train_set.rng_state() if self.train_set is not None else None
        states = gather_from_ranks(own)  # every process saving the checkpoint takes part
        return {"rng_per_rank": states} if any(s is not None for s in states) else {}

    def load_state_dict(self, state: dict) -> None:
        if "rng_per_rank" in state:
            states, rank = state["rng_per_rank"], global_rank()
            state = states[rank] if rank < len(states) else None  # a process the run had not
        # else: an older checkpoint, rank 0's stream alone (another process, whose stream it is
        # not, starts its own afresh: PromptedDataset's key tells them apart)
        self._restored_rng = state or None
        self._apply_restored_rng()

    def _apply_restored_rng(self) -> None:
        state = getattr(self, "_restored_rng", None)
        if state is None or self.train_set is None:
            return  # setup() applies it once the training set exists
        self.train_set.set_rng_state(state)
        self._restored_rng = None

    def prepare_data(self) -> None:
        if self.demo is not None:
            self._refuse_file_root()
            ensure_demo_data(self.root, **self.demo)

    def _refuse_file_root(self) -> None:
        check_data_root(self.root, written_on_first_use=True)

    def _check_root(self) -> None:
        check_data_root(self.root)

    def _rank(self) -> int:
        trainer = self.trainer
        return int(trainer.global_rank) if trainer is not None else 0

    def _eval_sets(self, specs) -> list[PromptedDataset]:
        transform = build_eval_transform(self.image_size, **self.eval_transform_cfg)
        out = evaluation_sets(
            specs, self.root, transform, self.prompt_cfg, strict=self.strict_eval, seed=self.seed
        )
        if self.feature_cache is not None:
            out = [self.feature_cache.wrap_eval(ds) for ds in out]
        return out

    def setup(self, stage: str | None = None) -> None:
        if self.demo is not None:
            self.prepare_data()  # a no-op when present; covers use without a Trainer
        self._check_root()
        # with an embedding cache, validate plans the training set too, as a run's first process
        # does (train.py sets up "fit" there before the trainer): each DDP process builds its
        # share of one plan, cut the same way everywhere
        fit = stage in (None, "fit") or (stage == "validate" and self.feature_cache is not None)
        if fit and self.train_specs and self.train_set is None:
            transform = build_train_transform(self.image_size, **self.train_transform_cfg)
            self.train_set = training_set(
                self.train_specs,
                self.root,
                transform,
                self.prompt_cfg,
                strict=self.strict_train,
                seed=self.seed,
            )
            if self.feature_cache is not None:
                self.train_set = self._cached_train(self.train_set)
            self._apply_restored_rng()
        if stage in (None, "fit", "validate") and not self.val_sets:
            self.val_sets = self._eval_sets(self.val_specs)
        if stage in (None, "test") and not self.test_sets:
            self.test_sets = self._eval_sets(self.test_specs)
        rank = self._rank()
        for ds in [self.train_set, *self.val_sets, *self.test_sets]:
            if ds is not None:
                ds.rank = rank

    def _loader(self, dataset, batch_size, train) -> SampleLoader:
        sampler = None
        trainer = self.trainer
        if not train and trainer is not None and trainer.world_size > 1:
            # a set smaller than the process count leaves some processes an empty share (they
            # still join the metrics' sums: allow_zero_length_dataloader_with_multiple_devices);
            # a process with no sample in any set would skip the validation (Lightning skips a
            # loop without batches) and leave the others waiting in the sums: refused, with the
            # same answer in every process (they stop together)
            siblings = self.val_sets if any(ds is dataset for ds in self.val_sets) else (
                self.test_sets
            )
            largest = max(siblings or [dataset], key=len)
            if len(largest) < trainer.world_size:
                raise DataError(
                    f"the largest evaluation set, {largest.name}, has {len(largest)} samples, "
                    f"fewer than the {trainer.world_size} processes of this run, each of which "
                    f"evaluates its own share: add samples, or run at most {len(largest)} "
                    "processes (trainer.devices x trainer.num_nodes)"
                )
            # Lightning's DistributedSampler pads a set with repeated images up to a multiple of
            # the process count, which would count them twice in the per-set means
            sampler = EvaluationShard(dataset, trainer.world_size, trainer.global_rank)
        loader = (TrainLoader if train else SampleLoader)(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            shuffle=train,
            drop_last=train,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers,
            collate_fn=Collate(self.prompt_cfg, train),
        )
        if train and trainer is not None:
            loader.follow(trainer)
        # under DDP a file one process cannot read stops every process at that step (the
        # module's LoadFailure handling), not this one alone
        loader.hands_over_failures = trainer is not None and trainer.world_size > 1
        return loader

    def train_dataloader(self) -> SampleLoader:
        if self.train_set is None:
            self.setup("fit")
        if self.train_set is None:
            raise DataError("no training set configured (data.train_sets is empty)")
        if len(self.train_set) < self.batch_size:
            raise DataError(
                f"the training set has {len(self.train_set)} samples, fewer than one batch "
                f"(data.batch_size={self.batch_size}); add data or lower the batch size"
            )
        return self._loader(self.train_set, self.batch_size, train=True)

    def val_dataloader(self) -> list[SampleLoader]:
        if not self.val_sets and self.val_specs:
            self.setup("validate")
        return [self._loader(ds, self.val_batch_size, train=False) for ds in self.val_sets]

    def test_dataloader(self) -> list[SampleLoader]:
        if not self.test_sets and self.test_specs:
            self.setup("test")
        return [self._loader(ds, self.val_batch_size, train=False) for ds in self.test_sets]


def _set_specs(sets, key: str) -> list[dict]:
    """data.<key>: a list of set entries (mappings); null is none. DataError naming the key."""
    if sets is None:
        return []
    if isinstance(sets, (str, Mapping)) or not isinstance(sets, Sequence) or not all(
        isinstance(s, Mapping) for s in sets
    ):
        raise DataError(
            f"data.{key}={sets!r}: expected a list of sets, each a mapping such as "
            "{name: my_set, image_dir: images, mask_dir: masks} (data/README.md)"
        )
    return [dict(s) for s in sets]


def build_datamodule(cfg: Mapping, image_size: int, **overrides) -> SegmentationDataModule:
    """The datamodule from the ``data`` config group (DictConfig or dict) and the model's S.

    ``overrides`` replace config keys (e.g. ``num_workers=0`` in tests).
    """
    kwargs = {**plain_data_config(cfg), **overrides}
    try:
        return SegmentationDataModule(image_size, **kwargs)
    except TypeError as e:
        valid = list(inspect.signature(SegmentationDataModule).parameters)[1:]
        raise DataError(f"data config: {e}; valid keys: {valid}") from None
