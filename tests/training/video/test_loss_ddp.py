"""The video loss under DDP: SAM 2's MultiStepMultiMasksAndIous all-reduces the object count and
divides each process's loss by the mean count, so that DDP's averaged gradients equal those of
one process on all the clips. Two gloo processes with unequal shares, wrapped in
DistributedDataParallel, against one process on the concatenated batch: a small head (1 and 3
objects), and the miniature SAM 2.1's clip forward (a clip of 1 object and one of 2; GT-mask
prompts, so that both draw the same plan)."""

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from samhq_train.model import build_sam_hq
from samhq_train.training.video import ClipForward, plan_clip
from samhq_train.training.video.clip_forward import FrameSteps
from samhq_train.training.video.loss import MultiStepMaskLoss
from samhq_train.video_settings import ClipPromptSettings
from tests.ddp_launch import fork_server
from tests.reference import randomize_

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
    fork_server(__name__)
    mp.start_processes(_worker, args=(str(tmp_path / "store"), str(tmp_path)), nprocs=2,
                       start_method="forkserver")
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


VARIANT, CLIP_FRAMES, CLIP_SIZE = "sam2.1_hq_hiera_demo", 3, 256
MASK_PROMPTS = ClipPromptSettings(prob_to_use_pt_input=0.0, num_init_cond_frames=1,
                                  rand_init_cond_frames=False)


class ClipStep(nn.Module):
    """The clip forward and loss as one module (DDP wraps what runs the forward)."""

    def __init__(self) -> None:
        super().__init__()
        self.model = randomize_(build_sam_hq(VARIANT, seed=0), seed=1).train().requires_grad_(True)
        self.model.image_encoder.requires_grad_(False)  # frozen: a cheaper backward

    def forward(self, images, masks, object_video):
        rng = np.random.default_rng(0)
        plan = plan_clip(masks, MASK_PROMPTS, rng)
        forward = ClipForward(self.model, MASK_PROMPTS, use_hq=True)
        with torch.no_grad():
            features = forward.encode(images.flatten(0, 1))
        frames = forward(images, masks, object_video, plan, rng, features=features)
        return MultiStepMaskLoss()(frames, masks)["loss"]


def clips():
    """Two clips: images T x 2 x 3 x S x S, masks T x 3 x 1 x S x S (1 object, then 2)."""
    gen = torch.Generator().manual_seed(2)
    images = torch.randint(0, 256, (CLIP_FRAMES, 2, 3, CLIP_SIZE, CLIP_SIZE), generator=gen)
    masks = torch.zeros(CLIP_FRAMES, 3, 1, CLIP_SIZE, CLIP_SIZE, dtype=torch.bool)
    for t in range(CLIP_FRAMES):
        masks[t, 0, 0, 40 + 8 * t: 120 + 8 * t, 50:150] = True
        masks[t, 1, 0, 30:90, 100 + 6 * t: 200 + 6 * t] = True
        masks[t, 2, 0, 150:230, 20 + 5 * t: 90 + 5 * t] = t != 1  # gone on frame 1
    return images.float(), masks, torch.tensor([0, 1, 1])


def clip_grads(step: nn.Module, clip_index: list[int]):
    images, masks, owner = clips()
    objects = [i for i, v in enumerate(owner.tolist()) if v in clip_index]
    video = torch.tensor([clip_index.index(v) for v in owner[objects].tolist()])
    step(images[:, clip_index], masks[:, objects], video).backward()
    return {n: p.grad.clone() for n, p in step.named_parameters() if p.grad is not None}


def _clip_worker(rank: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        torch.set_num_threads(1)
        ddp = DistributedDataParallel(ClipStep(), find_unused_parameters=True)
        grads = clip_grads(ddp, [rank])
        torch.save({n.removeprefix("module."): g for n, g in grads.items()},
                   f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_clip_forward_under_two_processes_equals_one_on_both_clips(tmp_path):
    fork_server(__name__)
    mp.start_processes(_clip_worker, args=(str(tmp_path / "store"), str(tmp_path)), nprocs=2,
                       start_method="forkserver")
    single = clip_grads(ClipStep(), [0, 1])
    assert any(n.startswith("model.memory_attention.") for n in single)
    worst = 0.0
    for rank in range(2):
        got = torch.load(tmp_path / f"rank{rank}.pt")
        assert set(got) == set(single)
        for name, grad in single.items():
            scale = max(float(grad.abs().max()), 1.0)  # as the SAM2Train parity test
            diff = float((got[name] - grad).abs().max())
            worst = max(worst, diff / scale)
            assert diff <= 1e-5 * scale, (name, diff, scale)
    print(f"worst gradient difference {worst:.1e} of the largest entry over {len(single)} tensors")
