"""The concept loaders' shares and epochs (audit 12), the process group stood in for: the default
data.seed 0 shuffles as any other seed; an epoch's loader hands its epoch to the dataset and the
share and seeds its workers from (seed, epoch), so a resumed run's epoch equals the uninterrupted
one's; concept_loaders' training share is shuffled and cut to whole batches, its validation share
in order and a failed validation image handed on as a LoadFailure; a run without validation
needs no validation share; a run of 2 processes refuses a training set too small for them before
it launches them."""

import lightning
import pytest
import torch
from omegaconf import OmegaConf

from samhq_train.data.demo_concepts import ensure_concept_demo
from samhq_train.data.loaders import LoadFailure
from samhq_train.errors import ConfigValueError
from samhq_train.train import train
from samhq_train.training.concept import loaders
from samhq_train.training.concept.loaders import (
    EpochLoader,
    ProcessShare,
    concept_loaders,
)
from samhq_train.training.concept.run import check_shares

from .concept_run import concept_cfg, concept_files  # noqa: F401 (fixture)
from .test_concept_shares import Items, loader


def one_process_order(items: int, seed: int, epoch: int) -> list[int]:
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(items, generator=generator).tolist()


def test_seed_0_shuffles_too(monkeypatch):
    monkeypatch.setattr(loaders, "world_size", lambda: 2)
    monkeypatch.setattr(loaders, "global_rank", lambda: 1)
    share = ProcessShare(range(9), seed=0)
    share.set_epoch(1)
    want = one_process_order(9, 0, 1)
    assert want != sorted(want)
    assert list(share) == want[:8][1::2] and len(share) == 4


def test_validation_shares_count_their_own_items(monkeypatch):
    monkeypatch.setattr(loaders, "world_size", lambda: 3)
    for rank, want in enumerate([[0, 3, 6], [1, 4], [2, 5]]):
        monkeypatch.setattr(loaders, "global_rank", lambda rank=rank: rank)
        share = ProcessShare(range(7))
        assert list(share) == want and len(share) == len(want)


class EpochItems(Items):
    """Items that record the epoch the loader set."""

    epoch = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch


def epoch_loader(epoch_of, seed: int = 4) -> EpochLoader:
    items = EpochItems(10)
    return EpochLoader(items, batch_size=2, sampler=ProcessShare(items, seed), seed=seed,
                       collate_fn=list, drop_last=True, epoch_of=epoch_of)


def test_an_epochs_loader_draws_from_seed_and_epoch_only():
    epoch = [0]
    ran = epoch_loader(lambda: epoch[0])
    seeds = {}  # the loader generator's state after the epoch (the workers' base seed drawn)
    for epoch[0] in range(3):
        batches = list(ran)
        seeds[epoch[0]] = ran.generator.get_state()
        assert ran.dataset.epoch == epoch[0]
        assert sum(batches, []) == one_process_order(10, 4, epoch[0])
    assert not torch.equal(seeds[0], seeds[1]) and not torch.equal(seeds[1], seeds[2])
    resumed = epoch_loader(lambda: 2)  # a fresh process resumed at epoch 2
    assert sum(list(resumed), []) == one_process_order(10, 4, 2)
    assert torch.equal(resumed.generator.get_state(), seeds[2])


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return ensure_concept_demo(tmp_path_factory.mktemp("shares12"), num_train=3, num_val=3,
                               size=64, seed=0)


def data_cfg(root, **kwargs):
    return OmegaConf.create({"root": str(root), "train_split": "train", "val_split": "val",
                             "min_scale": 32, "num_workers": 0, "batch_size": 2,
                             "val_categories_per_datapoint": None, **kwargs})


def test_concept_loaders_shuffle_training_and_keep_validation_in_order(demo):
    train, val = concept_loaders(data_cfg(demo), 64, False)
    assert len(train.dataset) == len(val.dataset) == 3
    assert list(train.sampler) == one_process_order(3, 0, 0)[:3]
    assert len(train) == 1 and len(list(train)) == 1  # the last partial batch left out
    assert list(val.sampler) == [0, 1, 2]
    assert len(list(val)) == 3  # val_batch_size 1, every item


def test_a_validation_image_that_fails_is_handed_on(tmp_path, demo):
    import shutil
    root = shutil.copytree(demo, tmp_path / "demo")
    for image in sorted((root / "val").glob("*.jpg"))[:1]:
        image.write_bytes(image.read_bytes()[: image.stat().st_size // 2])
    _, val = concept_loaders(data_cfg(root), 64, False)
    got = list(val)
    assert isinstance(got[0], LoadFailure) and "cannot read image file" in str(got[0].error)
    assert not any(isinstance(batch, LoadFailure) for batch in got[1:])


def test_a_run_without_validation_needs_no_validation_share():
    check_shares(loader(4, 2), None, 2)
    check_shares(loader(2, 2), None, 1)


def test_a_run_refuses_shares_too_small_for_its_processes(tmp_path, monkeypatch, concept_files):  # noqa: F811
    def launch(*args, **kwargs):
        pytest.fail("the run went on to launch its processes")
    monkeypatch.setattr(lightning.Trainer, "fit", launch)
    monkeypatch.setattr(lightning.Trainer, "validate", launch)
    cfg = concept_cfg(tmp_path, concept_files, "trainer=ddp_sim", "data.batch_size=2")
    with pytest.raises(ConfigValueError, match="the training set has 2 datapoints, fewer "
                       "than data.batch_size=2 for each of the 2 processes"):
        train(cfg)
