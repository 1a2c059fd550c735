"""The datamodule's sets from their config entries: names, the prompted training / evaluation
datasets built from sources, transforms and the prompt settings, and the check of every file of
the evaluation sets before validation or evaluation starts (check_set_files)."""

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
from .image_files import DataError
from .prompted import PromptedDataset
from .prompts import PromptConfig
from .sample import require_nonempty_mask
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
    sources = [build_source(s, root, strict) for s in specs]
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
            build_source(spec, root, strict),
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


def _problem(source, index: int) -> DataError | None:
    """The DataError that reading sample `index` of `source` for evaluation would raise, as far
    as headers and masks tell (a source without ``checked_files`` is read in full)."""
    try:
        check = getattr(source, "checked_files", None)
        item = check(index) if check is not None else source[index]
        if item.get("mask") is not None:
            require_nonempty_mask(item)
    except DataError as err:
        return err
    return None


def check_set_files(
    names: Sequence[str], datasets: Sequence, *, what: str = "validation", threads: int = 0
) -> FilesChecked:
    """Every sample of each evaluation set (PromptedDataset) checked before the first batch:
    the image's header, the mask as it is read, their sizes, an empty mask. Images are not
    decoded; masks are (emptiness needs their pixels), on `threads` threads (0: up to 8).

    A strict set (data.strict_eval) with a bad sample is a DataError naming its file, and how
    many more there are; a lenient set logs one warning with the count (validation skips them)
    and is listed in ``unusable`` when none of its samples is left."""
    start, checked = time.perf_counter(), FilesChecked()
    threads = threads or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(threads) as pool:
        for name, dataset in zip(names, datasets):
            source = getattr(dataset, "source", dataset)
            found = pool.map(lambda i, source=source: _problem(source, i), range(len(source)))
            problems = [err for err in found if err is not None]
            checked.samples += len(source)
            if not problems:
                continue
            more = len(problems) - 1
            if getattr(dataset, "strict", True):
                also = f" (and {more} more in {what} set {name})" if more else ""
                raise DataError(
                    f"{problems[0]}{also}; or set data.strict_eval=false to skip bad files"
                )
            log.warning(
                "%s set %s: %d of %d samples are unusable and skipped; first: %s",
                what, name, len(problems), len(source), problems[0],
            )
            if len(problems) == len(source):
                checked.unusable.append(name)
    checked.seconds = time.perf_counter() - start
    log.info(
        "%s sets: the files of %d samples checked in %.1f s (image headers, masks)",
        what, checked.samples, checked.seconds,
    )
    return checked
