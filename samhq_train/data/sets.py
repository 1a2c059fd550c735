"""The datamodule's sets from their config entries: names, and the prompted training / evaluation
datasets built from sources, transforms and the prompt settings."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from torch.utils.data import ConcatDataset

from .datasets import build_source
from .prompted import PromptedDataset
from .prompts import PromptConfig
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
