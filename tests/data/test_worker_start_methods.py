"""Loader workers started by spawn (macOS's default) or forkserver (Linux's from Python 3.14)
inherit nothing from the parent: each training loader's dataset, sampler, collate function and
seeds must travel pickled, and give the batches a forked worker gives. The loaders are the real
ones (image datamodule, video_loaders, concept_loaders) on tiny data; only their workers'
multiprocessing context changes (what set_start_method changes for a DataLoader).

A fork server that imported the loaders' modules once (as a fresh process: nothing of this
process's state) starts every loader's workers; spawn, a fresh interpreter importing them per
worker (~6 CPU-s each), starts the image loader's alone (the video and concept demos' runs were
checked under spawn by hand: docs/versions.md)."""

import multiprocessing

import pytest
import torch
from data_helpers import demo_config
from hydra import compose, initialize_config_dir

from samhq_train.config_defaults import CONFIG_DIR
from samhq_train.data.datamodule import build_datamodule
from samhq_train.data.demo_concepts import ensure_concept_demo
from samhq_train.training.concept.loaders import concept_loaders
from samhq_train.training.video.run import video_loaders

S = 64
LOADER_MODULES = ["samhq_train.data.datamodule", "samhq_train.training.video.run",
                  "samhq_train.training.concept.loaders"]
STARTED = {"forkserver": ["image", "video", "concept"], "spawn": ["image"]}


def composed(*overrides: str):
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        return compose("train", overrides=list(overrides))


@pytest.fixture(scope="module")
def loaders(demo_root, tmp_path_factory) -> dict:
    """{name: a training loader with 2 workers} as the runs build them."""
    folder = tmp_path_factory.mktemp("start_methods")
    dm = build_datamodule(demo_config(demo_root, batch_size=2, num_workers=2), image_size=S)
    dm.setup("fit")
    video_cfg = composed("experiment=video_demo", f"data.root={folder / 'videos'}",
                         "data.val_root=null", "data.multiplier=1", "data.num_workers=2",
                         "data.batch_size=1", f"data.moving_shapes.train.size={S}",
                         "data.moving_shapes.train.num_videos=2",
                         "data.moving_shapes.train.num_frames=5")
    concepts = ensure_concept_demo(folder / "concepts", num_train=2, num_val=1, size=S)
    concept_cfg = composed("experiment=concept_demo", f"data.root={concepts}",
                           "data.num_workers=2", "data.min_scale=32")
    return {
        "image": dm.train_dataloader(),
        "video": video_loaders(video_cfg, image_size=S)[0],
        "concept": concept_loaders(concept_cfg.data, image_size=S, with_masks=True)[0],
    }


def first_batches(loader, method: str | None) -> list:
    loader.multiprocessing_context = method  # None: the default (fork on Linux before 3.14)
    torch.manual_seed(0)  # the image loader's shuffle and worker seeds draw from torch's
    batches = iter(loader)
    return [next(batches), next(batches)]


def assert_same(a, b, where: str = "batch") -> None:
    assert type(a) is type(b), where
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for k, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{k}]")
    else:
        assert a == b, where


@pytest.mark.parametrize("method", ["forkserver", "spawn"])
def test_started_workers_give_the_batches_forked_workers_give(loaders, method):
    # no effect where a test before this one started the fork server: its workers then import
    # the modules themselves
    multiprocessing.get_context("forkserver").set_forkserver_preload(LOADER_MODULES)
    for name in STARTED[method]:
        loader = loaders[name]
        assert loader.num_workers == 2, name
        forked = first_batches(loader, "fork")
        started = first_batches(loader, method)
        assert_same(started, forked, name)
