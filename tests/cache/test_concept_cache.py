"""The trunk-map cache's planning (samhq_train/cache/concept.py), without a model: a sample's
pixels are those of its view alone (what the key names), the pre-drawn training views are fixed
per image, and views=0 trains on validation's entries. The runs: tests/training/concept/
test_concept_trunk_cache.py."""

import torch

from samhq_train.cache.concept import ConceptTrunkCache
from samhq_train.data.concept_dataset import ConceptDataset
from samhq_train.data.concept_transforms import view_input
from samhq_train.data.demo_concepts import ensure_concept_demo
from samhq_train.data.image_files import read_image

FINGERPRINT = {"family": "sam3", "variant": "test", "image_size": 64, "dtype": "float32",
               "trunk_sha256": "0" * 64}


def dataset(root, split, **kwargs):
    folder = root / split
    return ConceptDataset(folder / "_annotations.coco.json", folder, resolution=64, min_scale=32,
                          **kwargs)


def planned_keys(cache, data) -> dict:
    cache.plan(data)
    return dict(data.maps_of.keys)


def test_views_are_fixed_per_image_and_a_sample_is_its_view(tmp_path):
    root = ensure_concept_demo(tmp_path / "data", num_train=3, num_val=2, size=64, seed=0)
    train = dataset(root, "train", training=True, views=3)
    views = train.image_views()
    assert len(views) == 3 and all(len(v) == 3 for v in views.values())
    assert views == dataset(root, "train", training=True, views=3).image_views()
    assert all(side in train.scales and 0 <= left <= 64 - side and 0 <= top <= 64 - side
               for vs in views.values() for side, left, top in vs)
    seen = set()
    for epoch in range(4):
        train.set_epoch(epoch)
        for i in range(len(train)):
            sample = train[i]
            image_index = train.datapoints[i][0]
            assert sample.view in views[image_index]
            seen.add((image_index, sample.view))
            pixels = view_input(read_image(train.coco.images[image_index].path), sample.view, 64)
            assert torch.equal(pixels, sample.image)  # the key's view is all the pixels depend on
    assert len(seen) > len(views)  # visits take different views of an image


def test_views_zero_trains_on_validation_entries_and_a_view_is_its_own_key(tmp_path):
    root = ensure_concept_demo(tmp_path / "data", num_train=2, num_val=2, size=64, seed=0)
    cache = ConceptTrunkCache(tmp_path / "cache", FINGERPRINT, encode=None, progress=False)
    val = planned_keys(cache, dataset(root, "val", training=False))
    sample = dataset(root, "val", training=False)[0]
    assert sample.view == (64, 0, 0)
    # the training images at views=0 and as a validation set: the same entries
    as_val = planned_keys(cache, dataset(root, "train", training=False))
    at_zero = planned_keys(cache, dataset(root, "train", training=True, views=0))
    assert at_zero == as_val and set(as_val.values()).isdisjoint(val.values())
    drawn = planned_keys(cache, dataset(root, "train", training=True, views=2))
    assert len(set(drawn.values())) == len(drawn) >= 3  # one entry per distinct view
    for (image_id, view), key in drawn.items():  # a drawn full-size view is the stretch's entry
        assert (key == at_zero[image_id, view]) if view == (64, 0, 0) else (
            key not in at_zero.values())
    assert len(cache.jobs) == len({*val.values(), *at_zero.values(), *drawn.values()})
