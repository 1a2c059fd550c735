"""EpochSeededLoader over video clips (the video run's training loader): an epoch's clips, MOSE
augmentations included, come from (seed, epoch) alone: the same with loader workers, whatever
torch's and Python's global generators hold (which they leave as they were); a loader resumed
after 2 of the epoch's batches gives the rest; Lightning remaking it for DDP keeps its settings."""

import random

import pytest
import torch
from lightning.pytorch.utilities.data import _update_dataloader
from torch.utils.data import DistributedSampler

from samhq_train.data.loaders import EpochSeededLoader
from samhq_train.data.moving_shapes import write_moving_shapes
from samhq_train.data.video_clips import VideoClipDataset, collate_clips
from samhq_train.data.video_transforms import ClipAugmentation


@pytest.fixture(scope="module")
def shapes_root(tmp_path_factory):
    return write_moving_shapes(tmp_path_factory.mktemp("seeded_clips"), num_videos=2,
                               num_frames=5, size=32, num_objects=2)


def clip_loader(root, epoch: int, workers: int = 0, done: int = 0) -> EpochSeededLoader:
    clips = VideoClipDataset(root, image_size=32, num_frames=3, multiplier=3,
                             augmentation=ClipAugmentation(grayscale_prob=0.5), seed=5)
    return EpochSeededLoader(clips, batch_size=1, shuffle=True, num_workers=workers,
                             collate_fn=collate_clips, drop_last=True, seed=5,
                             epoch_of=lambda: epoch, batches_done=lambda: done)


def drawn(loader) -> list[tuple]:
    return [(batch["names"], batch["images"], batch["masks"]) for batch in loader]


def same(a: list[tuple], b: list[tuple]) -> bool:
    return len(a) == len(b) and all(
        x[0] == y[0] and torch.equal(x[1], y[1]) and torch.equal(x[2], y[2]) for x, y in zip(a, b))


def test_an_epochs_clips_come_from_seed_and_epoch_alone(shapes_root):
    torch_state, python_state = torch.get_rng_state(), random.getstate()
    epoch_1 = drawn(clip_loader(shapes_root, 1))
    assert torch.equal(torch.get_rng_state(), torch_state) and random.getstate() == python_state
    assert len(epoch_1) == 6
    torch.manual_seed(123)  # other global states, two workers: the same clips
    random.seed(123)
    assert same(drawn(clip_loader(shapes_root, 1, workers=2)), epoch_1)
    assert not same(drawn(clip_loader(shapes_root, 0)), epoch_1)
    resumed = drawn(clip_loader(shapes_root, 1, done=2))  # a run resumed after 2 batches
    assert same(resumed, epoch_1[2:])


def test_lightning_remaking_the_loader_for_ddp_keeps_its_settings(shapes_root):
    loader = clip_loader(shapes_root, 1, done=2)
    loader.hands_over_failures = True
    remade = _update_dataloader(loader, DistributedSampler(loader.dataset, num_replicas=2,
                                                           rank=0, shuffle=True))
    assert type(remade) is EpochSeededLoader and remade.seed == 5
    assert remade.epoch_of() == 1 and remade.batches_done() == 2 and remade.hands_over_failures
    assert isinstance(remade.sampler, DistributedSampler) and len(remade) == 3


def test_ddp_padding_repeats_draw_other_clips(shapes_root):
    """6 items over 4 processes: DistributedSampler repeats 2 of them (on ranks 2 and 3) to even
    the shares; those repeats draw other clips than the first readings on ranks 0 and 1, also
    with workers and resumed after the batch before (the repeat is each rank's last batch)."""
    def rank_loader(rank: int, workers: int = 0, done: int = 0):
        loader = clip_loader(shapes_root, 1, workers=workers, done=done)
        return _update_dataloader(loader, DistributedSampler(loader.dataset, num_replicas=4,
                                                             rank=rank, shuffle=True))

    ranks = [drawn(rank_loader(rank)) for rank in range(4)]
    clips = [clip for rank in ranks for clip in rank]
    assert len(clips) == 8
    assert not any(same([a], [b]) for i, a in enumerate(clips) for b in clips[i + 1:])
    assert same(drawn(rank_loader(3, workers=2)), ranks[3])
    assert same(drawn(rank_loader(3, done=1)), ranks[3][1:])
