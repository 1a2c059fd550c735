"""The video loss under DDP: SAM 2's MultiStepMultiMasksAndIous all-reduces the object count and
divides each process's loss by the mean count, so that DDP's averaged gradients equal those of
one process on all the clips. Two gloo processes with unequal shares (1 and 3 objects) through
a small head wrapped in DistributedDataParallel, against one process on the 4 objects."""

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from samhq_train.training.video.clip_forward import FrameSteps
from samhq_train.training.video.loss import MultiStepMaskLoss

NUM_FRAMES, NUM_OBJECTS, SIZE, CANDIDATES = 3, 4, 16, 3
SHARES = {0: slice(0, 1), 1: slice(1, 4)}  # rank -> its objects


class Head(nn.Module):
    """Per-object features B x S x S -> (B x M x S x S logits, B x M IoUs, B x 1 scores)."""

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.scale = nn.Parameter(torch.randn(CANDIDATES, SIZE, SIZE, generator=gen))
        self.shift = nn.Parameter(torch.randn(CANDIDATES, 1, 1, generator=gen))
        self.score = nn.Linear(SIZE * SIZE, 1)
        nn.init.normal_(self.score.weight, std=0.05, generator=gen)
        nn.init.constant_(self.score.bias, 0.3)

    def forward(self, x):
        logits = x[:, None] * self.scale + self.shift
        return logits, logits.sigmoid().mean((2, 3)), self.score(x.flatten(1))


def clip_data():
    gen = torch.Generator().manual_seed(1)
    features = torch.randn(NUM_FRAMES, NUM_OBJECTS, SIZE, SIZE, generator=gen)
    gt = torch.rand(NUM_FRAMES, NUM_OBJECTS, 1, SIZE, SIZE, generator=gen) > 0.6
    gt[1, 2] = False  # an object absent on a frame: only its object score is supervised
    return features, gt


def loss_and_grads(head: nn.Module, objects: slice):
    features, gt = clip_data()
    frames = []
    for t in range(NUM_FRAMES):
        steps = FrameSteps()
        for shift in (0.0, 0.5):  # two prediction steps (a correction click)
            logits, ious, scores = head(features[t, objects] + shift)
            steps.multimasks.append(logits)
            steps.ious.append(ious)
            steps.object_scores.append(scores)
        frames.append(steps)
    loss = MultiStepMaskLoss()(frames, gt[:, objects])["loss"]
    loss.backward()
    return {n: p.grad.clone() for n, p in head.named_parameters()}


def _worker(rank: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        ddp = DistributedDataParallel(Head())
        grads = loss_and_grads(ddp, SHARES[rank])
        torch.save({n.removeprefix("module."): g for n, g in grads.items()},
                   f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_two_processes_give_the_gradients_of_one_on_all_objects(tmp_path):
    mp.spawn(_worker, args=(str(tmp_path / "store"), str(tmp_path)), nprocs=2)
    single = loss_and_grads(Head(), slice(0, NUM_OBJECTS))
    for rank in range(2):
        got = torch.load(tmp_path / f"rank{rank}.pt")
        assert set(got) == set(single)
        for name, grad in single.items():
            torch.testing.assert_close(got[name], grad, rtol=1e-5, atol=1e-7)
    # each process dividing by its own count (the old rule) gives other gradients
    own = [loss_and_grads(Head(), share) for share in SHARES.values()]
    averaged = {n: (own[0][n] + own[1][n]) / 2 for n in single}
    assert not torch.allclose(averaged["scale"], single["scale"], rtol=1e-3)
