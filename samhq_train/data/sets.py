"""The datamodule's sets from their config entries: names, the prompted training / evaluation
datasets built from sources, transforms and the prompt settings, and the check of every file of
the evaluation sets (with data.check_images=full, also of the training sets) before the run
starts (check_set_files)."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from torch.utils.data import ConcatDataset

from .datasets import build_source
from .image_files import DataError, EmptyMaskError, read_image
from .prompted import PromptedDataset, strict_key
from .prompts import PromptConfig
from .sample import require_nonempty_mask
from .sample_keys import leaf_of, sample_key
from .transforms import PairTransform

log = logging.getLogger(__name__)


def set_name(spec: Mapping) -> str:
    """A set's name: the config's ``name``, else the one its source gives itself (the COCO json's
    stem, the image folder's name)."""
    if spec.get("name"):
        return str(spec["name"])
    if spec.get("type") == "coco":
        return Path(str(spec.get("annotation_file", "coco"))).stem
    return Path(str(spec.get("image_dir", "set"))).name


def training_set(
    specs: Sequence[Mapping],
    root: Path | None,
    transform: PairTransform,
    prompts: PromptConfig,
    *,
    strict: bool,
    seed: int,
) -> PromptedDataset:
    """The concatenation of the training sets, one random stream (named "train")."""
    sources = [build_source(s, root, strict, strict_key(True)) for s in specs]
    dataset = PromptedDataset(
        ConcatDataset(sources),
        transform,
        prompts,
        train=True,
        strict=strict,
        seed=seed,
        name="train",
    )
    log.info("training samples: %s", {s.name: len(s) for s in sources})
    return dataset


def evaluation_sets(
    specs: Sequence[Mapping],
    root: Path | None,
    transform: PairTransform,
    prompts: PromptConfig,
    *,
    strict: bool,
    seed: int,
) -> list[PromptedDataset]:
    """One dataset per validation / test set, in config order; a set's own ``strict`` wins."""
    return [
        PromptedDataset(
            build_source(spec, root, strict, strict_key(False)),
            transform,
            prompts,
            train=False,
            strict=spec.get("strict", strict),
            seed=seed,
            name=set_name(spec),
        )
        for spec in specs
    ]


@dataclass
class FilesChecked:
    """What check_set_files read: how many samples, in how long, and the sets (lenient ones) in
    which no sample is usable."""

    samples: int = 0
    seconds: float = 0.0
    unusable: list[str] = field(default_factory=list)


CHECK_IMAGES = ("header", "full")  # data.check_images: what check_set_files reads of an image


def _problem(source, index: int, need_object: bool) -> DataError | None:
    """The DataError that reading sample `index` of `source` would raise, as far as headers and
    masks tell (a source without ``checked_files`` is read in full); need_object: an empty mask
    is one (evaluation; training skips such samples)."""
    leaf, j = leaf_of(source, index)
    try:
        check = getattr(leaf, "checked_files", None)
        item = check(j) if check is not None else leaf[j]
        if need_object and item.get("mask") is not None:
            require_nonempty_mask(item)
    except EmptyMaskError as err:  # a source may find it without a mask (COCO: the RLE's area)
        return err if need_object else None
    except DataError as err:
        return err
    return None


def _image_problem(path: Path) -> DataError | None:
    try:
        read_image(path)
    except DataError as err:
        return err
    return None


def _problems(pool, source, full: bool, need_object: bool) -> list[DataError]:
    """What _problem finds in every sample of `source`; full: also each image file (of the
    samples without a problem) decoded, once per file."""
    found = list(pool.map(lambda i: _problem(source, i, need_object), range(len(source))))
    problems = [err for err in found if err is not None]
    if full:
        keys = (sample_key(source, i) for i, err in enumerate(found) if err is None)
        images = dict.fromkeys(key.files[0] for key in keys if key is not None)
        problems += [err for err in pool.map(_image_problem, images) if err is not None]
    return problems


def check_set_files(
    names: Sequence[str],
    datasets: Sequence,
    *,
    what: str = "validation",
    threads: int = 0,
    images: str = "header",
) -> FilesChecked:
    """Every sample of each set (PromptedDataset) checked before the first batch: the image's
    header (images="full": the whole image decoded, which finds files cut short or damaged),
    the mask as it is read, their sizes, an empty mask (not for what="training", which skips
    them). Masks are decoded, on `threads` threads (0: up to 8; the decoders release the GIL).

    A strict set (data.strict_eval, data.strict_train for training) with a bad sample is a
    DataError naming its file, and how many more there are; a lenient set logs one warning with
    the count (they are skipped) and is listed in ``unusable`` when none of its samples is
    left."""
    if images not in CHECK_IMAGES:
        raise ValueError(f"images={images!r}: expected one of {CHECK_IMAGES}")
    start, checked = time.perf_counter(), FilesChecked()
    threads = threads or min(8, os.cpu_count() or 1)
    full, training = images == "full", what == "training"
    with ThreadPoolExecutor(threads) as pool:
        for name, dataset in zip(names, datasets):
            source = getattr(dataset, "source", dataset)
            problems = _problems(pool, source, full, need_object=not training)
            checked.samples += len(source)
            if not problems:
                continue
            more = len(problems) - 1
            if getattr(dataset, "strict", True):
                also = f" (and {more} more in {what} set {name})" if more else ""
                raise DataError(
                    f"{problems[0]}{also}; or set {strict_key(training)}=false to skip bad files"
                )
            log.warning(
                "%s set %s: %d of %d samples are unusable and skipped; first: %s",
                what, name, len(problems), len(source), problems[0],
            )
            if len(problems) == len(source):
                checked.unusable.append(name)
    checked.seconds = time.perf_counter() - start
    log.info(
        "%s sets: the files of %d samples checked in %.1f s (%s, masks)",
        what, checked.samples, checked.seconds, "images" if full else "image headers",
    )
    return checked
