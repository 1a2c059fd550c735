"""The trunk-map cache's keys and reads (audit 14; no SAM 3 model): the fingerprint follows the
trunk's weights (their names too) and the early-fusion block; data.cache.dtype is the storage's;
a view's key holds its resolution; a read hashes its image file again and gives float32 maps
from float16 storage."""

import types

import pytest
import torch
from torch import nn

from samhq_train.cache.build import weights_sha256
from samhq_train.cache.concept import (
    ConceptTrunkCache,
    trunk_cache_from_config,
    trunk_fingerprint,
    view_transform_id,
)
from samhq_train.cache.datasets import CacheError
from samhq_train.data.concept_dataset import ConceptDataset
from samhq_train.data.demo_concepts import ensure_concept_demo

from .test_concept_cache import FINGERPRINT


def stand_in_model(trunk: nn.Module, **early) -> types.SimpleNamespace:
    return types.SimpleNamespace(family="sam3", image_size=64,
                                 image_encoder=types.SimpleNamespace(trunk=trunk), **early)


def test_the_fingerprint_follows_the_trunks_weights_and_early_block():
    """Mutants: the trunk's sha256 left out of the fingerprint; the early-fusion block left out;
    the weights' names left out of their hash."""
    provenance = types.SimpleNamespace(variant="test")
    torch.manual_seed(0)
    trunk = nn.Linear(3, 2)
    first = trunk_fingerprint(stand_in_model(trunk), provenance, "float32")
    with torch.no_grad():
        trunk.weight[0, 0] += 1
    assert trunk_fingerprint(stand_in_model(trunk), provenance, "float32") != first
    early = [trunk_fingerprint(stand_in_model(trunk, early_fusion=True, early_block=b),
                               provenance, "float32") for b in (2, 3)]
    assert early[0] != early[1] and early[0]["early_block"] == 2
    renamed = nn.Module()
    renamed.other = trunk  # the same tensors under other names
    assert weights_sha256(renamed) != weights_sha256(trunk)


def test_the_cache_settings_are_data_caches(tmp_path):
    """Mutant: data.cache.dtype not read (float32 storage whatever it says)."""
    cfg = {"dir": str(tmp_path / "cache"), "dtype": "float16", "batch_size": 3}
    cache = trunk_cache_from_config(cfg, stand_in_model(nn.Linear(3, 2)),
                                    types.SimpleNamespace(variant="test"), encode=None,
                                    progress=False)
    assert cache.store.dtype == "float16" and cache.store.fingerprint["dtype"] == "float16"
    assert cache.batch_size == 3


def test_a_views_key_holds_its_resolution():
    """Mutant: the resolution left out of the view's transform id (a 64 and a 128 input of the
    same view would share an entry)."""
    assert view_transform_id((64, 0, 0), 64) != view_transform_id((64, 0, 0), 128)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(cache, val dataset) with every entry written in float16 (a stand-in encode)."""
    tmp = tmp_path_factory.mktemp("trunk_cache")
    root = ensure_concept_demo(tmp / "data", num_train=1, num_val=2, size=64, seed=0)
    data = ConceptDataset(root / "val" / "_annotations.coco.json", root / "val", resolution=64,
                          min_scale=32, training=False)
    cache = ConceptTrunkCache(tmp / "cache", {**FINGERPRINT, "dtype": "float16"},
                              encode=lambda model, images: images[:, :2, ::16, ::16] / 3,
                              progress=False)
    cache.plan(data)
    cache.store.open()
    keys = list(cache.jobs)
    assert cache._encode(None, "cpu", keys, set(keys)) == len(keys) == 2
    return cache, data


def test_a_read_gives_float32_maps_of_its_view(built):
    """Mutant: the stored float16 maps handed on as float16."""
    _, data = built
    maps = data.maps_of(data.coco.images[0].id, (64, 0, 0))
    assert maps.dtype == torch.float32 and maps.shape == (2, 4, 4)


def test_a_read_hashes_its_image_file_again(built):
    """Mutant: the entry read without hashing its image again (a file changed since planning
    would be trained on with the old file's maps)."""
    _, data = built
    image = data.coco.images[1]
    with open(image.path, "ab") as f:
        f.write(b"\0")  # the file changed since planning
    with pytest.raises(CacheError, match="not what the cache entry was planned from"):
        data.maps_of(image.id, (64, 0, 0))
