"""LightningDataModule: sources -> transforms -> prompts -> batches (the batch contract).

Build it from the ``data`` config group and the model's image size::

    dm = build_datamodule(cfg.data, image_size=model.image_size)

Training uses the concatenation of ``train_sets``; validation and test get one dataloader per
set, in config order (``dm.val_names`` / ``dm.test_names``; each batch also carries its
``dataset`` names). Under DDP, Lightning swaps in DistributedSamplers (shuffled for training,
in order for evaluation), so every rank sees its own shard.

Randomness: evaluation prompts are a function of (seed, index). Training augmentation and
prompts come from one numpy generator per (dataset, seed, rank, worker seed); the worker seed
follows torch's global RNG (``lightning.seed_everything``), so runs repeat under a seed and
workers and ranks draw independently. A resumed run continues those streams: the datamodule's
state_dict holds the main process's training RNG, the training loader's (TrainLoader) the state its
epoch started from, so that a run resumed mid-epoch sees the batches it would have seen.

Bad samples: a DataError from a worker travels as data and is raised in the main process (no
worker traceback). Training skips empty masks (and, when not strict, unreadable samples) by
taking the next index; lenient evaluation drops them from the batch, strict evaluation raises.
"""

from __future__ import annotations

import inspect
import logging
import random
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import cv2
import lightning as L
import numpy as np
import torch
import torch.distributed as dist
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch.utils.data import ConcatDataset, DataLoader, Dataset, get_worker_info

from .datasets import DataError, EmptyMaskError, build_source
from .demo import ensure_demo_data
from .prompts import MASK_THRESHOLD, PromptConfig, choose_prompt_types, sample_prompts
from .transforms import PairTransform, build_eval_transform, build_train_transform

log = logging.getLogger(__name__)

MAX_TRIES = 10  # augmentation redraws / next-index substitutions before giving up


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
                    return {"error": str(e)}
                log.warning("skipping a sample: %s", e)
        if self.train:
            return {
                "error": f"{MAX_TRIES} unusable samples in a row from index {idx}; last: {last}"
            }
        return {"skip": str(last)}

    def _sample(self, raw: dict, rng: np.random.Generator) -> dict:
        image, mask = raw["image"], raw["mask"]
        peak = int(mask.max())
        if peak <= MASK_THRESHOLD:
            raise EmptyMaskError(
                f"{raw['where']}: empty mask (no pixel > {MASK_THRESHOLD}; max value {peak}); "
                "remove the pair, or fix the mask values (0 = background, 255 = object)"
            )
        mask_f = mask.astype(np.float32)
        for _ in range(MAX_TRIES if self.train else 1):
            out = self.transform(image, mask_f)
            if out.mask.max() > MASK_THRESHOLD:
                p = sample_prompts(out.mask, rng, self.prompts)
                break
        else:
            if self.train:  # the jitter keeps losing this object (tiny, or cropped away)
                raise EmptyMaskError(f"{raw['where']}: the object vanishes under augmentation")
            # A thin object can vanish under bilinear downscaling: prompt from its area average.
            h, w = out.input_size
            area = np.zeros_like(out.mask)
            area[:h, :w] = cv2.resize(mask_f, (w, h), interpolation=cv2.INTER_AREA)
            p = sample_prompts(area, rng, self.prompts, threshold=0)
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


def stack_images(images: Sequence[np.ndarray]) -> torch.Tensor:
    """S x S x 3 uint8 RGB images (the transforms' output) -> B x 3 x S x S uint8.

    uint8, a quarter of float32's bytes, is what travels to the device; the model's normalisation
    turns it into floats there, with the same values as a float batch would give.
    """
    out = np.empty((len(images), 3, *images[0].shape[:2]), np.uint8)
    for i, image in enumerate(images):  # numpy: no thread-pool cost in a busy main process
        if image.dtype != np.uint8:
            raise TypeError(
                f"model-frame images must be uint8 (transforms.Transformed), got {image.dtype}"
            )
        out[i] = image.transpose(2, 0, 1)
    return torch.from_numpy(out)


class Collate:
    """Samples -> one batch (S = the model's input side); picks the prompt types.

    image          B x 3 x S x S uint8, RGB, padded, not normalised (the model normalises, on
                   its device)
    mask           B x 1 x S x S float GT in the model frame, 0-255 (soft after resizing);
                   the loss target is mask / 255, prompts threshold it at > 128
    prompt_type    list of "box" | "point" | "noise_mask", one per sample
    boxes          B x 4 xyxy;  points B x N x 2 (x, y);  point_labels B x N (1 = positive)
    mask_input     B x 1 x S/4 x S/4, values 0 / 255 (the official noisy-mask prompt)
    gt_original    list of uint8 H_i x W_i tensors, the untouched GT for the metrics
    original_size, input_size   lists of (H_i, W_i) and of (h_i, w_i), the resized image in S x S
    content_size   with image: list of (h_i, w_i) from which the model zeroes the normalised
                   image (the official predictor's padding; (S, S): nothing), see Transformed
    name, dataset  lists of str
    features       with the embedding cache: {field: B x ...} the encoder's ImageFeatures tensors
                   (storage dtype); cached training batches then carry no image, gt_original
                   or original_size
    """

    def __init__(self, prompts: PromptConfig, train: bool):
        self.prompts, self.train = prompts, train

    def __call__(self, samples: list[dict]) -> dict | None:
        errors = [s["error"] for s in samples if "error" in s]
        if errors:
            return {"error": "\n".join(errors)}
        samples = [s for s in samples if "skip" not in s]
        if not samples:
            return None
        if self.train:
            types = choose_prompt_types(
                [s["type_draw"] for s in samples],
                [s["foreground_pixels"] for s in samples],
                self.prompts,
            )
        else:
            types = [self.prompts.eval_prompt] * len(samples)

        def stack(key):
            return torch.from_numpy(np.stack([s[key] for s in samples]))

        batch = {}
        if "image" in samples[0]:  # cached training samples carry features instead
            batch["image"] = stack_images([s["image"] for s in samples])
            batch["content_size"] = [s["content_size"] for s in samples]
        batch.update(
            {
                "mask": stack("mask")[:, None],
                "prompt_type": types,
                "boxes": stack("box"),
                "points": stack("points"),
                "point_labels": stack("point_labels"),
                "mask_input": stack("noise_mask")[:, None],
                "input_size": [s["input_size"] for s in samples],
                "name": [s["name"] for s in samples],
                "dataset": [s["dataset"] for s in samples],
            }
        )
        if "gt_original" in samples[0]:
            batch["gt_original"] = [torch.from_numpy(s["gt_original"]) for s in samples]
            batch["original_size"] = [s["original_size"] for s in samples]
        if "features" in samples[0]:
            batch["features"] = {
                k: torch.stack([s["features"][k] for s in samples]) for k in samples[0]["features"]
            }
        return batch


class SampleLoader(DataLoader):
    """A DataLoader that raises data errors in the main process and drops emptied batches."""

    def __iter__(self):
        for batch in super().__iter__():
            if batch is None:
                continue
            if "error" in batch:
                raise DataError(batch["error"])
            yield batch


class TrainLoader(SampleLoader):
    """The training loader, resumable mid-epoch (Lightning saves its ``state_dict``).

    Its state is the random state its running epoch started from, per process: torch's (which
    draws the shuffle order and the workers' seeds) and the main process's augmentation RNG. A run
    resumed mid-epoch draws that epoch again from the same state and drops the ``batches_done()``
    batches it already trained on, so the rest of the epoch is what the uninterrupted run saw. The
    re-draw costs data loading only, no model. Not exact in an epoch that ran on persistent
    workers carried over from the one before (their RNGs live on in the worker processes, which no
    checkpoint holds, and the DataLoader draws no new worker seeds): the state records it, and
    such a resume says so in one warning.
    """

    def __init__(self, *args, batches_done: Callable[[], int] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.batches_done = batches_done  # batches of the running epoch already trained on
        self._epoch_start: dict | None = None
        self._resume_from: dict | None = None
        self._epochs_started = 0  # by this loader object (persistent workers live from the first on)

    def state_dict(self) -> dict:
        if self._epoch_start is None:
            return {}
        return {"epoch_start": gather_from_ranks(self._epoch_start)}

    def load_state_dict(self, state: dict) -> None:
        states = state.get("epoch_start")
        self._resume_from = states[_global_rank() % len(states)] if states else None

    def _random_state(self) -> dict:
        return {"torch": torch.get_rng_state(), "dataset": self.dataset.rng_state()}

    def _workers_carried_over(self) -> bool:
        """Whether the epoch starting now runs on the worker processes of the one before."""
        return self.persistent_workers and self.num_workers > 0 and self._epochs_started > 0

    def __iter__(self):
        resume, self._resume_from = self._resume_from, None
        done = self.batches_done() if self.batches_done is not None else 0
        if not 0 < done < len(self):  # a fresh epoch
            carried_over = self._workers_carried_over()
            self._epoch_start = {**self._random_state(), "workers_carried_over": carried_over}
            self._epochs_started += 1
            yield from super().__iter__()
            return
        self._epochs_started += 1
        if resume is None:
            log.warning(
                "resuming mid-epoch from a checkpoint without the data order (an older one): the "
                "rest of this epoch is drawn afresh, not as the interrupted run would have"
            )
            yield from super().__iter__()
            return
        if resume.get("workers_carried_over"):
            log.warning(
                "resuming mid-epoch with data.persistent_workers=true: this epoch ran on workers "
                "whose random state no checkpoint holds, so its rest is drawn afresh, not as the "
                "interrupted run would have; train with data.persistent_workers=false for an exact resume"
            )
        self._epoch_start = resume
        batches = super().__iter__()
        with torch.random.fork_rng(devices=[]):  # the restored step's torch state is kept
            torch.set_rng_state(resume["torch"])
            self.dataset.set_rng_state(resume["dataset"])
            for _ in range(done):
                next(batches)
        yield from batches


def _global_rank() -> int:
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def gather_from_ranks(obj) -> list:
    """`obj` of every process (index = global rank); a one-element list without DDP."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return [obj]
    gathered: list = [None] * dist.get_world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def _set_name(spec: Mapping) -> str:
    """The set's name, as its source names itself when the config gives none."""
    if spec.get("name"):
        return str(spec["name"])
    if spec.get("type") == "coco":
        return Path(str(spec.get("annotation_file", "coco"))).stem
    return Path(str(spec.get("image_dir", "set"))).name


class SegmentationDataModule(L.LightningDataModule):
    """Train / val / test dataloaders producing the batch contract for image size S.

    Args:
        image_size: S, the model's input size (1024 for ViT-B/L/H, 256 for the tiny model).
        train_sets, val_sets, test_sets: lists of dataset specs (see ``datasets.build_source``);
            ``test_sets=None`` means the val sets.
        root: folder that relative set paths start from (relative roots start at the launch
            directory, also under Hydra).
        strict_train / strict_eval: error policy for bad files (see the module docstring).
        train_transform: kwargs of ``build_train_transform``; eval_transform: of
            ``build_eval_transform``; prompts: fields of ``PromptConfig``.
        demo: kwargs of ``ensure_demo_data``: generate the demo set under ``root`` if missing.
        cache: the ``data.cache`` settings (samhq_train/cache). The datamodule only serves
            what ``use_cache`` binds (the entry point that holds the model binds it).
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
        train_transform: Mapping | None = None,
        eval_transform: Mapping | None = None,
        prompts: Mapping | None = None,
        seed: int = 0,
        demo: Mapping | None = None,
        cache: Mapping | None = None,
    ):
        super().__init__()  # no save_hyperparameters: keys like seed would clash with the module's
        self.image_size = int(image_size)
        self.root = _absolute(root)
        self.train_specs = [dict(s) for s in train_sets]
        self.val_specs = [dict(s) for s in val_sets]
        self.test_specs = self.val_specs if test_sets is None else [dict(s) for s in test_sets]
        self.batch_size, self.val_batch_size = int(batch_size), int(val_batch_size)
        self.num_workers = int(num_workers)
        self.pin_memory = bool(pin_memory) and torch.cuda.is_available()
        self.persistent_workers = bool(persistent_workers) and self.num_workers > 0
        self.strict_train, self.strict_eval = bool(strict_train), bool(strict_eval)
        self.train_transform_cfg = dict(train_transform or {})
        self.eval_transform_cfg = dict(eval_transform or {})
        self.prompt_cfg = PromptConfig(**dict(prompts or {}))
        self.seed = int(seed)
        self.demo = None if demo is None else dict(demo)
        self.cache_cfg = dict(cache or {})
        self.feature_cache = None  # bound by use_cache
        self.train_set: PromptedDataset | None = None
        self.val_sets: list[PromptedDataset] = []
        self.test_sets: list[PromptedDataset] = []

    def use_cache(self, cache) -> None:
        """Serve features from `cache` (samhq_train.cache.EmbeddingCache): datasets set up from
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
        return [_set_name(s) for s in self.val_specs]

    @property
    def test_names(self) -> list[str]:
        return [_set_name(s) for s in self.test_specs]

    def state_dict(self) -> dict:
        """The training RNG of the main process (it draws augmentations and prompts when
        num_workers=0), so that a resumed run continues the same random stream. Worker processes
        reseed from Lightning's per-epoch seeds and need nothing here."""
        return (self.train_set.rng_state() if self.train_set is not None else None) or {}

    def load_state_dict(self, state: dict) -> None:
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
            ensure_demo_data(self.root, **self.demo)

    def _check_root(self) -> None:
        if self.root is not None and not self.root.is_dir():
            raise DataError(
                f"data root not found: {self.root}; put the data there (data/README.md shows the "
                "layout) or pass data.root=/path/to/data"
            )

    def _rank(self) -> int:
        trainer = self.trainer
        return int(trainer.global_rank) if trainer is not None else 0

    def _eval_sets(self, specs) -> list[PromptedDataset]:
        transform = build_eval_transform(self.image_size, **self.eval_transform_cfg)
        out = []
        for spec in specs:
            source = build_source(spec, self.root, self.strict_eval)
            out.append(
                PromptedDataset(
                    source,
                    transform,
                    self.prompt_cfg,
                    train=False,
                    strict=spec.get("strict", self.strict_eval),
                    seed=self.seed,
                    name=_set_name(spec),
                )
            )
        if self.feature_cache is not None:
            out = [self.feature_cache.wrap_eval(ds) for ds in out]
        return out

    def setup(self, stage: str | None = None) -> None:
        if self.demo is not None:
            self.prepare_data()  # a no-op when present; covers use without a Trainer
        self._check_root()
        if stage in (None, "fit") and self.train_specs and self.train_set is None:
            sources = [build_source(s, self.root, self.strict_train) for s in self.train_specs]
            transform = build_train_transform(self.image_size, **self.train_transform_cfg)
            self.train_set = PromptedDataset(
                ConcatDataset(sources),
                transform,
                self.prompt_cfg,
                train=True,
                strict=self.strict_train,
                seed=self.seed,
                name="train",
            )
            log.info("training samples: %s", {s.name: len(s) for s in sources})
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
            # Lightning's DistributedSampler pads a set with repeated images up to a multiple of the
            # process count, which would count them twice in the per-set means: shard without padding
            sampler = UnrepeatedDistributedSampler(
                dataset, num_replicas=trainer.world_size, rank=trainer.global_rank, shuffle=False
            )
        kwargs = {"batches_done": self._batches_done_this_epoch} if train else {}
        return (TrainLoader if train else SampleLoader)(
            dataset,
            batch_size=batch_size,
            sampler=sampler,
            shuffle=train,
            drop_last=train,
            num_workers=self.num_workers,
            pin_memory=self.pin_memory,
            persistent_workers=self.persistent_workers,
            collate_fn=Collate(self.prompt_cfg, train),
            **kwargs,
        )

    def _batches_done_this_epoch(self) -> int:
        """Training batches of the running epoch the trainer has done (> 0 when resumed mid-epoch)."""
        trainer = self.trainer
        return 0 if trainer is None else trainer.fit_loop.epoch_loop.batch_progress.current.ready

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


def _absolute(root) -> Path | None:
    if root is None:
        return None
    from hydra.utils import to_absolute_path  # the launch directory, even if Hydra chdir'ed

    return Path(to_absolute_path(str(Path(str(root)).expanduser())))


def build_datamodule(cfg: Mapping, image_size: int, **overrides) -> SegmentationDataModule:
    """The datamodule from the ``data`` config group (DictConfig or dict) and the model's S.

    ``overrides`` replace config keys (e.g. ``num_workers=0`` in tests).
    """
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import MissingMandatoryValue

    if isinstance(cfg, DictConfig):
        try:
            cfg = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
        except MissingMandatoryValue as e:
            raise DataError(
                f"data config: {e.full_key} must be set (e.g. data.root=/path/to/data)"
            ) from None
    kwargs = {**dict(cfg), **overrides}
    try:
        return SegmentationDataModule(image_size, **kwargs)
    except TypeError as e:
        valid = list(inspect.signature(SegmentationDataModule).parameters)[1:]
        raise DataError(f"data config: {e}; valid keys: {valid}") from None
