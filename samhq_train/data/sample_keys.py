"""Who a source's sample i is, known without reading it: ``sample_key(i)`` gives a SampleKey
(dataset, name, the files it is made of and, for COCO, its annotation record). The embedding cache
keys and names its entries by it; ``sample_key(dataset, i)`` finds it through a ConcatDataset."""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import ConcatDataset, Dataset


@dataclass(frozen=True)
class SampleKey:
    """Who a source's sample is, known without reading it."""

    dataset: str
    name: str  # the item's "name": file stem, or <stem>_<annotation id> for COCO
    files: tuple[Path, ...]  # the files it is made of (image, and mask for folders)
    annotation: dict | None = None  # COCO: the instance's json record


def leaf_of(source: Dataset, index: int) -> tuple[Dataset, int]:
    """(the source that holds sample `index`, its index there), through (nested)
    ConcatDatasets."""
    while isinstance(source, ConcatDataset):
        part = bisect.bisect_right(source.cumulative_sizes, index)
        if part:
            index -= source.cumulative_sizes[part - 1]
        source = source.datasets[part]
    return source, index


def sample_key(source: Dataset, index: int) -> SampleKey | None:
    """The SampleKey of sample `index` of a source, also through (nested) ConcatDatasets; None for
    a source without ``sample_key`` (its sample is known only by reading it)."""
    source, index = leaf_of(source, index)
    key_of = getattr(source, "sample_key", None)
    return None if key_of is None else key_of(index)
