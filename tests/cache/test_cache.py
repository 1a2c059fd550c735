"""The embedding cache: exact steps from cached features, keys that never serve a stale entry,
resumable and sharded builds, half-precision storage error, refusal with a trained encoder."""

import functools
import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from samhq_train.cache import CacheError
from samhq_train.cache import sidecar as sidecar_module
from samhq_train.cache.build import EmbeddingCache
from samhq_train.cache.datasets import local_reason
from samhq_train.config_check import ConfigError, check_config
from samhq_train.data import (
    DataError,
    PromptConfig,
    PromptedDataset,
)
from samhq_train.data.datamodule import SegmentationDataModule
from samhq_train.data.prompted import skip_hint
from samhq_train.data.transform_builders import build_eval_transform
from samhq_train.evaluation.benchmark import run_benchmark
from samhq_train.evaluation.evaluate import predict_batch
from samhq_train.model import Provenance, build_sam_hq
from samhq_train.train import train
from samhq_train.training.module import SamHQModule
from tests.training.helpers import compose_cfg

SETS = {
    "train_sets": [{"name": "demo-train", "image_dir": "train/images", "mask_dir": "train/masks"}],
    "val_sets": [{"name": "demo-val", "image_dir": "val/images", "mask_dir": "val/masks"}],
}


def demo_model(seed=0):
    return build_sam_hq("vit_demo", seed=seed), Provenance(variant="vit_demo", seed=seed)


def datamodule(root, cache=None, **kwargs):
    kwargs.setdefault("num_workers", 0)
    dm = SegmentationDataModule(256, root=str(root), batch_size=2, val_batch_size=2, **SETS, **kwargs)
    if cache is not None:
        dm.use_cache(cache)
    dm.setup("fit")
    return dm


def cache_for(folder, model, provenance, **kwargs):
    return EmbeddingCache.for_model(model, provenance, dir=folder, progress=False, **kwargs)


def no_encoder(model):
    def fail(images, content_sizes=None):
        raise AssertionError("the encoder ran although the batch carries cached features")

    model.encode = fail


def step(module, batch):
    torch.manual_seed(0)  # the loss samples points at random
    module.zero_grad()
    loss = module.training_step(batch, 0)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in module.model.named_parameters() if p.grad is not None}


@pytest.mark.filterwarnings("ignore:You are trying to `self.log()`")
def test_cached_training_step_equals_the_uncached_step(demo_root, tmp_path):
    model, provenance = demo_model()
    cache = cache_for(tmp_path, model, provenance)
    dm = datamodule(demo_root, cache)
    assert cache.build(model) == 4 + 3  # 4 training images (eval transform) + 3 validation images
    cached = next(iter(dm.train_dataloader()))
    assert "image" not in cached and cached["features"]["embedding"].shape == (2, 64, 16, 16)
    # the same samples uncached: the images resized by the evaluation transform, same prompts
    plain = datamodule(demo_root)
    resized = plain._eval_sets(plain.train_specs)[0]
    reference = {s["name"]: s for s in (resized[i] for i in range(len(resized)))}
    batch = {k: v for k, v in cached.items() if k != "features"}
    batch["image"] = torch.stack([torch.from_numpy(reference[n]["image"]).permute(2, 0, 1).float() for n in cached["name"]])
    stored = torch.stack([torch.from_numpy(reference[n]["mask"]) for n in cached["name"]])
    assert torch.equal(cached["mask"][:, 0], stored)  # the stored mask is the transform's

    module = SamHQModule(model, optimizer=functools.partial(torch.optim.Adam, lr=1e-3), provenance=provenance)
    loss, grads = step(module, batch)
    real_encode = model.encode
    no_encoder(model)
    cached_loss, cached_grads = step(module, cached)
    model.encode = real_encode
    assert grads and grads.keys() == cached_grads.keys()
    print("max abs diff: loss", (cached_loss - loss).abs().item(), "grads", max((cached_grads[n] - grads[n]).abs().max().item() for n in grads))
    torch.testing.assert_close(cached_loss, loss, rtol=0, atol=1e-6)
    for name in grads:
        torch.testing.assert_close(cached_grads[name], grads[name], rtol=1e-5, atol=1e-7)


def evaluate(model, dm):
    loader = dm.val_dataloader()[0]
    return run_benchmark(model, [("demo-val", loader)], sam_baseline=True, n_worst=0, progress=False)["results"]


def test_validation_from_the_cache_gives_the_uncached_miou(demo_root, tmp_path):
    model, provenance = demo_model()
    uncached = evaluate(model, datamodule(demo_root))
    cache = cache_for(tmp_path, model, provenance)
    dm = datamodule(demo_root, cache)
    cache.build(model)
    no_encoder(model)
    cached = evaluate(model, dm)
    assert cached == uncached and uncached["hq"]["demo-val"]["count"] == 3


def test_longest_side_batches_are_encoded_as_the_official_predictor_encodes(demo_root, tmp_path):
    """Padded batches (96 x 128 demo images -> 192 x 256 in 256 x 256) get the predictor's zero
    padding after normalising, from the encoder and from the cache."""
    from samhq_train.batch_forward import image_features
    from samhq_train.imaging import read_image
    from samhq_train.inference import SamHQPredictor

    model, provenance = demo_model()
    longest = {"eval_transform": {"mode": "longest_side"}}
    batch = next(iter(datamodule(demo_root, **longest).val_dataloader()[0]))
    assert batch["content_size"][0] == (192, 256)
    cache = cache_for(tmp_path, model, provenance)
    cached_dm = datamodule(demo_root, cache, **longest)
    cache.build(model)
    cached = next(iter(cached_dm.val_dataloader()[0]))
    predictor = SamHQPredictor(model)
    for features in (image_features(model, batch), image_features(model, cached)):
        for i, name in enumerate(batch["name"]):
            predictor.set_image(read_image(next((demo_root / "val/images").glob(f"{name}.*"))))
            torch.testing.assert_close(features.embedding[i], predictor.features.embedding[0], atol=1e-5, rtol=0)
            torch.testing.assert_close(features.early[i], predictor.features.early[0], atol=1e-5, rtol=0)


def test_a_changed_base_transform_or_image_is_never_served_stale(demo_root, tmp_path):
    model, provenance = demo_model(seed=0)
    cache = cache_for(tmp_path, model, provenance)
    datamodule(demo_root, cache)
    assert cache.build(model) == 7 and cache.build(model) == 0  # complete: nothing to redo
    # another random base: another store folder, everything rebuilt
    other, other_provenance = demo_model(seed=1)
    reseeded = cache_for(tmp_path, other, other_provenance)
    datamodule(demo_root, reseeded)
    assert reseeded.store.folder != cache.store.folder and reseeded.build(other) == 7
    # another transform (evaluation resize rule): other keys in the same folder
    resized = cache_for(tmp_path, model, provenance)
    datamodule(demo_root, resized, eval_transform={"mode": "longest_side"})
    assert resized.store.folder == cache.store.folder and resized.build(model) == 7
    # another storage dtype: another folder
    half = cache_for(tmp_path, model, provenance, dtype="float16")
    assert half.store.folder != cache.store.folder
    # an edited image: only its entries are rebuilt
    data = tmp_path / "data"
    shutil.copytree(demo_root, data)
    image = sorted((data / "val/images").iterdir())[0]
    image.write_bytes(image.read_bytes() + b"\0")
    edited = cache_for(tmp_path, model, provenance)
    datamodule(data, edited)
    assert edited.build(model) == 1


def test_planning_again_reads_only_changed_files(demo_root, tmp_path, monkeypatch):
    data = tmp_path / "data"
    shutil.copytree(demo_root, data)
    model, provenance = demo_model()
    first = cache_for(tmp_path, model, provenance)
    datamodule(data, first)
    assert (tmp_path / "file_digests.json").is_file() and first.build(model) == 7
    hashed = []
    real = sidecar_module.file_digest
    monkeypatch.setattr(sidecar_module, "file_digest", lambda *paths: hashed.append(paths) or real(*paths))
    again = cache_for(tmp_path, model, provenance)
    datamodule(data, again)
    assert hashed == [] and again.build(model) == 0  # the sidecar served every sample
    # same size, mtime set back: the changed ctime still gives it away
    image = sorted((data / "val/images").iterdir())[0]
    before = image.stat()
    content = bytearray(image.read_bytes())
    content[-1] ^= 0xFF
    image.write_bytes(bytes(content))
    os.utime(image, ns=(before.st_atime_ns, before.st_mtime_ns))
    edited = cache_for(tmp_path, model, provenance)
    datamodule(data, edited)
    assert [Path(p[0]).name for p in hashed] == [image.name] and edited.build(model) == 1


def test_a_mismatched_entry_or_folder_is_refused_naming_the_folder(demo_root, tmp_path):
    model, provenance = demo_model()
    cache = cache_for(tmp_path, model, provenance)
    dm = datamodule(demo_root, cache)
    cache.build(model)
    a, b = sorted(cache.jobs)[:2]
    shutil.copy(cache.store.path(a), cache.store.path(b))  # a file under another entry's name
    with pytest.raises(CacheError, match="built for another key") as err:
        cache.store.read(b)
    assert str(cache.store.folder) in str(err.value) and "\n" not in str(err.value)
    cache.store.path(b).write_bytes(b"not a safetensors file")
    with pytest.raises(DataError, match="damaged"):  # a data error: one line from the loader
        for _ in dm.val_dataloader()[0]:
            pass
        for _ in dm.train_dataloader():
            pass
    manifest = cache.store.folder / "store.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "seed": 7}))
    with pytest.raises(CacheError, match="store.json does not match") as err:
        cache_for(tmp_path, model, provenance)
    assert str(cache.store.folder) in str(err.value)


def test_an_interrupted_build_resumes_and_ranks_build_disjoint_shares(demo_root, tmp_path):
    model, provenance = demo_model()
    cache = cache_for(tmp_path, model, provenance, batch_size=2)
    datamodule(demo_root, cache)
    real_encode, calls = model.encode, []

    def interrupted(images, content_sizes=None):
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        return real_encode(images, content_sizes)

    model.encode = interrupted
    with pytest.raises(KeyboardInterrupt):
        cache.build(model)
    model.encode = real_encode
    written = [k for k in cache.jobs if cache.store.has(k)]
    assert len(written) == 2 and not list(cache.store.folder.rglob("*.tmp"))
    assert all("tensors" in cache.store.read(k) for k in written)
    # resumed by two processes: each writes its half of what is missing, together everything
    shares = []
    for rank in (0, 1):
        resumed = cache_for(tmp_path, model, provenance)
        datamodule(demo_root, resumed)
        shares.append(set(resumed.missing(rank, 2)))
        assert resumed.build(model, rank=rank, world_size=2) == len(shares[-1])
    assert not shares[0] & shares[1] and len(shares[0] | shares[1]) == 5
    assert all(resumed.store.has(k) for k in resumed.jobs) and resumed.missing() == []


def test_training_views_are_pre_drawn_deterministically(demo_root, tmp_path):
    model, provenance = demo_model()
    built = []
    for folder in ("one", "two"):
        cache = cache_for(tmp_path / folder, model, provenance, views=3)
        dm = datamodule(demo_root, cache)
        assert cache.build(model) == 4 * 3 + 3
        built.append(cache)
    keys = dm.train_set.source.keys
    assert all(len(k) == 3 and len(set(k)) == 3 for k in keys)
    first, second = (c.store.read(keys[0][1])["tensors"] for c in built)
    assert all(torch.equal(first[n], second[n]) for n in first)  # same seed, same view
    views = [built[0].store.read(k)["tensors"]["mask"] for k in keys[0]]
    assert not torch.equal(views[0], views[1]) or not torch.equal(views[1], views[2])
    # another data seed draws other views: new entries, never the first seed's
    reseeded = cache_for(tmp_path / "one", model, provenance, views=3)
    datamodule(demo_root, reseeded, seed=1)
    assert reseeded.build(model) == 4 * 3  # the 3 validation entries are reused
    batch = next(iter(dm.train_dataloader()))
    assert batch["features"]["early"].shape[0] == 2 and batch["mask"].shape == (2, 1, 256, 256)


def test_the_cache_refuses_what_uncached_data_refuses_in_the_same_words(demo_root, tmp_path):
    """One sample recipe: an empty mask is stored as unusable with the datamodule's message, and
    cached training skips it as uncached training does."""
    data = tmp_path / "data"
    shutil.copytree(demo_root, data)
    mask_path = sorted((data / "train/masks").iterdir())[0]
    cv2.imwrite(str(mask_path), np.zeros((96, 128), np.uint8))
    uncached = datamodule(data).train_set
    strict_eval = PromptedDataset(
        uncached.source, build_eval_transform(256), PromptConfig(), train=False, strict=True
    )
    refused = strict_eval[0]
    message = refused["error"]
    assert message.startswith(f"{mask_path}: empty mask")
    assert refused["hint"] == skip_hint(train=False)  # what a strict set adds on refusing
    model, provenance = demo_model()
    for views in (0, 2):
        cache = cache_for(tmp_path / f"views{views}", model, provenance, views=views)
        dm = datamodule(data, cache)
        cache.build(model)
        entries = [cache.store.read(k) for k in dm.train_set.source.keys[0]]
        key = dm.train_set.sources.keys[0]  # stored without the folder's paths, named on reading
        assert all((local_reason(e["unusable"], key), e["error"]) == (message, "empty") for e in entries)
        assert all(str(mask_path) not in e["unusable"] for e in entries)
        assert dm.train_set[0]["name"] == uncached[0]["name"] != "0000"  # the next sample


def test_half_precision_storage_error(demo_root, tmp_path):
    """fp16 storage changes the HQ logits of the demo model by 1.3e-4 at most (bf16: 1.2e-3)."""
    model, provenance = demo_model()
    logits = {}
    for dtype in ("float32", "float16", "bfloat16"):
        cache = cache_for(tmp_path, model, provenance, dtype=dtype)
        dm = datamodule(demo_root, cache)
        cache.build(model)
        batch = next(iter(dm.val_dataloader()[0]))
        assert batch["features"]["embedding"].dtype == getattr(torch, dtype)
        logits[dtype] = torch.cat([x.flatten() for x in predict_batch(model, batch, prompt="box")["hq"]])
    fp16 = (logits["float16"] - logits["float32"]).abs().max().item()
    bf16 = (logits["bfloat16"] - logits["float32"]).abs().max().item()
    print(f"max abs HQ logit diff vs fp32 storage: fp16 {fp16:.2e}, bf16 {bf16:.2e}")
    assert 0 < fp16 < 1e-3 and 0 < bf16 < 1e-2


@pytest.mark.parametrize("policy", ["hq+lora", "full"])
def test_a_policy_that_trains_the_encoder_is_refused(tmp_path, policy):
    cfg = compose_cfg(tmp_path / "out", tmp_path / "data", "data.cache.enabled=true", f"model.policy={policy}")
    with pytest.raises(ConfigError) as err:
        check_config(cfg)
    message = str(err.value)
    assert "data.cache" in message and f"model.policy={policy}" in message and "\n" not in message
    check_config(compose_cfg(tmp_path / "out", tmp_path / "data", "data.cache.enabled=true", "model.policy=hq+decoder"))


@pytest.mark.parametrize("override", ["data.cache.dtype=float64", "data.cache.views=-1", "data.cache.batch_size=0"])
def test_bad_cache_settings_are_named(tmp_path, override):
    cfg = compose_cfg(tmp_path / "out", tmp_path / "data", override)
    with pytest.raises(ConfigError, match=override.split("=")[0]):
        check_config(cfg)


def test_train_from_the_cache_then_reuse_it(tmp_path):
    args = ["data.cache.enabled=true", f"data.cache.dir={tmp_path / 'cache'}", "trainer.max_epochs=1",
            "export=false", "validate_before_training=false"]
    metrics, objects = train(compose_cfg(tmp_path / "run1", tmp_path / "data", *args))
    cache = objects["datamodule"].feature_cache
    assert len(cache.jobs) == 8 + 2 and all(cache.store.has(k) for k in cache.jobs)
    assert 0.0 <= metrics["after"]["demo-val"]["mIoU"] <= 1.0
    _, objects = train(compose_cfg(tmp_path / "run2", tmp_path / "data", *args))
    assert objects["datamodule"].feature_cache.missing() == []



def test_each_training_visit_takes_one_of_the_pre_drawn_views(demo_root, tmp_path):
    """With K views, every visit of a sample reads one of its K stored views, drawn with the
    training RNG: over a few visits more than one of them."""
    model, provenance = demo_model()
    cache = cache_for(tmp_path, model, provenance, views=3)
    dm = datamodule(demo_root, cache)
    cache.build(model)
    stored = [cache.store.read(k)["tensors"]["mask"] for k in dm.train_set.source.keys[0]]
    assert not all(torch.equal(stored[0], s) for s in stored[1:])
    seen = set()
    for _ in range(12):
        mask = torch.from_numpy(dm.train_set[0]["mask"])
        matches = [i for i, s in enumerate(stored) if torch.equal(s.float(), mask)]
        assert matches
        seen.update(matches)
    assert len(seen) >= 2
