import math

import cv2
import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from samhq_train.evaluation.iou_metrics import BoundaryIoU, MaskIoU
from samhq_train.evaluation.metrics import (
    boundary_dilation,
    boundary_iou,
    mask_iou,
    mask_to_boundary,
)
from tests.ddp_launch import fork_server


def reference_boundary(mask: np.ndarray, dilation_ratio: float) -> np.ndarray:
    """The definition, step by step: pad 1 px of 0, erode with a 3x3 kernel d times, crop."""
    h, w = mask.shape
    d = max(1, int(round(dilation_ratio * np.sqrt(h**2 + w**2))))
    padded = cv2.copyMakeBorder(mask.astype(np.uint8), 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    eroded = cv2.erode(padded, np.ones((3, 3), np.uint8), iterations=d)[1 : h + 1, 1 : w + 1]
    return mask.astype(np.uint8) - eroded


def reference_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return 1.0 if union == 0 else np.logical_and(a, b).sum() / union


def reference_boundary_iou(pred: np.ndarray, gt: np.ndarray, dilation_ratio: float) -> float:
    return reference_iou(
        reference_boundary(pred, dilation_ratio) > 0, reference_boundary(gt, dilation_ratio) > 0
    )


def random_masks(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Noise, smooth blobs, thin structures, full, empty and single-pixel masks, N x h x w."""
    noise = rng.random((h, w)) < 0.5
    small = torch.rand(
        1,
        1,
        max(1, h // 6),
        max(1, w // 6),
        generator=torch.Generator().manual_seed(int(rng.integers(1 << 30))),
    )
    blobs = (torch.nn.functional.interpolate(small, (h, w), mode="bilinear")[0, 0] > 0.55).numpy()
    lines = np.zeros((h, w), bool)
    lines[:, rng.integers(w)] = True
    lines[rng.integers(h), :] = True
    lines |= np.eye(h, w, k=int(rng.integers(-2, 3)), dtype=bool)
    single = np.zeros((h, w), bool)
    single[rng.integers(h), rng.integers(w)] = True
    return np.stack([noise, blobs, lines, np.ones((h, w), bool), np.zeros((h, w), bool), single])


def hand_drawn_masks(h: int = 41, w: int = 57) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    ring = np.abs(np.hypot(yy - h / 2, xx - w / 2) - 12) < 1.5
    cross = (np.abs(yy - 20) < 2) | (np.abs(xx - 30) < 3)
    l_shape = np.zeros((h, w), bool)
    l_shape[5:35, 5:12] = True
    l_shape[28:35, 5:50] = True
    checker = ((yy // 4 + xx // 4) % 2).astype(bool)
    border = np.zeros((h, w), bool)
    border[0:10, :] = True  # touches the image border: counts as boundary there
    return np.stack([ring, cross, l_shape, checker, border])


SIZES = [(1, 1), (1, 9), (7, 1), (13, 7), (37, 91), (64, 65), (101, 203), (150, 49)]


@pytest.mark.parametrize("dilation_ratio", [0.02, 0.05, 0.13])
def test_boundary_equals_opencv_erosion(dilation_ratio):
    rng = np.random.default_rng(0)
    for h, w in SIZES:
        masks = random_masks(rng, h, w)
        ours = mask_to_boundary(torch.from_numpy(masks), dilation_ratio).numpy()
        for mask, boundary in zip(masks, ours):
            np.testing.assert_array_equal(boundary, reference_boundary(mask, dilation_ratio) > 0)

        preds = masks[rng.permutation(len(masks))]
        scores = boundary_iou(torch.from_numpy(preds), torch.from_numpy(masks), dilation_ratio)
        expected = [reference_boundary_iou(p, g, dilation_ratio) for p, g in zip(preds, masks)]
        np.testing.assert_allclose(scores.numpy(), expected, rtol=1e-6)


def test_boundary_equals_opencv_on_hand_drawn_masks():
    masks = hand_drawn_masks()
    assert boundary_dilation(41, 57) == 1
    for ratio in (0.02, 0.06, 0.2):  # d = 1, 4, 14
        ours = mask_to_boundary(torch.from_numpy(masks), ratio).numpy()
        for mask, boundary in zip(masks, ours):
            np.testing.assert_array_equal(boundary, reference_boundary(mask, ratio) > 0)
        preds = np.roll(masks, 2, axis=2)
        scores = boundary_iou(torch.from_numpy(preds), torch.from_numpy(masks), ratio)
        expected = [reference_boundary_iou(p, g, ratio) for p, g in zip(preds, masks)]
        np.testing.assert_allclose(scores.numpy(), expected, rtol=1e-6)


def test_dilation_width():
    assert boundary_dilation(1024, 1024) == round(0.02 * math.sqrt(2) * 1024) == 29
    assert boundary_dilation(10, 10) == 1  # 0.28 rounds to 0, clamped to 1


def test_mask_iou_equals_reference():
    rng = np.random.default_rng(1)
    masks = random_masks(rng, 37, 91)
    preds = masks[::-1].copy()
    expected = [reference_iou(p, g) for p, g in zip(preds, masks)]
    np.testing.assert_allclose(
        mask_iou(torch.from_numpy(preds), torch.from_numpy(masks)).numpy(), expected, rtol=1e-6
    )


def test_identical_masks_score_one():
    masks = torch.from_numpy(random_masks(np.random.default_rng(2), 64, 65))
    assert torch.equal(mask_iou(masks, masks), torch.ones(len(masks)))
    assert torch.equal(boundary_iou(masks, masks), torch.ones(len(masks)))


def test_shifted_thin_ring_scores_low_and_boundary_is_stricter_than_mask_iou():
    h = w = 101  # d = round(0.02 * 142.8) = 3
    yy, xx = np.mgrid[:h, :w]
    ring = torch.from_numpy(np.abs(np.hypot(yy - 50, xx - 50) - 30) < 1)[None]  # ~2 px wide
    shifted = ring.roll(4, dims=-1)  # more than the ring's width
    assert boundary_iou(shifted, ring).item() < 0.15
    disc = torch.from_numpy(np.hypot(yy - 50, xx - 50) < 30)[None]
    moved = disc.roll(3, dims=-1)
    assert mask_iou(moved, disc).item() > 0.85
    assert boundary_iou(moved, disc).item() < 0.4


def test_empty_cases():
    empty = torch.zeros(1, 9, 11, dtype=torch.bool)
    full = torch.zeros(1, 9, 11, dtype=torch.bool)
    full[0, 2:6, 3:8] = True
    for fn in (mask_iou, boundary_iou):
        assert fn(empty, empty).item() == 1.0
        assert fn(full, empty).item() == 0.0
        assert fn(empty, full).item() == 0.0


def test_size_mismatch_names_both_shapes():
    a = torch.zeros(2, 5, 6, dtype=torch.bool)
    b = torch.zeros(2, 5, 7, dtype=torch.bool)
    for fn in (mask_iou, boundary_iou):
        with pytest.raises(ValueError, match=r"\(2, 5, 6\).*\(2, 5, 7\)"):
            fn(a, b)
    with pytest.raises(ValueError, match=r"\(1, 5, 6\).*\(1, 5, 7\)"):
        MaskIoU().update(torch.zeros(1, 5, 6), torch.zeros(1, 5, 7))


def test_metrics_average_per_image_across_sizes():
    big_gt = torch.zeros(3, 60, 80)  # a batch of 3, then a batch of 1: not a mean of batches
    big_gt[:, 10:50, 10:70] = 255
    big_logits = torch.where(big_gt > 128, 5.0, -5.0)  # perfect
    small_gt = torch.zeros(1, 7, 9)
    small_gt[0, 2:5, 2:5] = 255
    small_logits = torch.full((1, 7, 9), -3.0)  # predicts nothing
    for metric in (MaskIoU(), BoundaryIoU()):
        metric.update(big_logits, big_gt)
        metric.update([small_logits[0]], [small_gt[0]])  # list form, H x W
        # pixel-pooled IoU would be ~0.999; per-batch means (1 + 0) / 2; per image (3 + 0) / 4
        assert metric.compute().item() == 0.75
        assert metric.count.item() == 4


def test_update_list_matches_functions():
    rng = np.random.default_rng(3)
    preds, gts, expected_m, expected_b = [], [], [], []
    for h, w in [(37, 91), (64, 65), (13, 7)]:
        masks = torch.from_numpy(random_masks(rng, h, w))
        logits = torch.randn(masks.shape) + 3.0 * masks.roll(1, dims=-1)
        preds.append(logits)
        gts.append(masks.to(torch.uint8) * 255)
        expected_m.append(mask_iou(logits > 0, masks))
        expected_b.append(boundary_iou(logits > 0, masks))
    m_metric, b_metric = MaskIoU(), BoundaryIoU()
    m_metric.update(preds, gts)
    b_metric.update(preds, gts)
    assert m_metric.compute().item() == pytest.approx(torch.cat(expected_m).double().mean().item())
    assert b_metric.compute().item() == pytest.approx(torch.cat(expected_b).double().mean().item())


def test_thresholds_and_inputs():
    gt = torch.tensor([[[0, 128, 129, 255]]], dtype=torch.uint8)  # > 128 is foreground
    logits = torch.tensor([[[-1.0, -1.0, 1.0, 1.0]]])
    metric = MaskIoU()
    metric.update(logits, gt)
    assert metric.compute().item() == 1.0

    probs = torch.sigmoid(logits)
    metric = MaskIoU(from_logits=False)  # threshold 0.5 by default
    metric.update(probs, gt)
    assert metric.compute().item() == 1.0
    metric = MaskIoU(from_logits=False, threshold=0.9)  # nothing above 0.9: IoU 0
    metric.update(probs, gt)
    assert metric.compute().item() == 0.0

    metric = BoundaryIoU()
    metric.update(logits[:, None] > 0, gt[:, None] > 128)  # bool B x 1 x H x W
    assert metric.compute().item() == 1.0

    with pytest.raises(ValueError, match="probabilities"):
        MaskIoU(from_logits=False).update(logits, gt)
    with pytest.raises(ValueError, match="0-1 mask"):
        MaskIoU().update(logits, gt.float() / 255)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        MaskIoU(from_logits=False, threshold=2.0)
    with pytest.warns(UserWarning, match="before the ``update``"):
        assert math.isnan(MaskIoU().compute().item())


DDP_SIZES = [(37, 91), (64, 65), (13, 7), (20, 20), (50, 31)]


def _ddp_data():
    rng = np.random.default_rng(4)
    data = []
    for h, w in DDP_SIZES:
        masks = torch.from_numpy(random_masks(rng, h, w))
        logits = torch.from_numpy(rng.normal(size=masks.shape)).float() + 2.0 * masks.roll(2, -2)
        data.append((logits, masks.to(torch.uint8) * 255))
    return data


def _ddp_worker(rank, world_size, init_file, out_dir):
    dist.init_process_group(
        "gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size
    )
    try:
        metrics = [MaskIoU(), BoundaryIoU()]
        for i, (logits, gt) in enumerate(_ddp_data()):
            if i % world_size == rank:  # uneven share: 3 batches on rank 0, 2 on rank 1
                for m in metrics:
                    m.update(logits, gt)
        values = torch.stack([m.compute() for m in metrics])  # synced over both processes
        torch.save(values, f"{out_dir}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_ddp_two_processes_equal_single_process(tmp_path):
    fork_server(__name__)
    mp.start_processes(_ddp_worker, args=(2, str(tmp_path / "store"), str(tmp_path)), nprocs=2,
                       start_method="forkserver")
    single = [MaskIoU(), BoundaryIoU()]
    for logits, gt in _ddp_data():
        for m in single:
            m.update(logits, gt)
    expected = torch.stack([m.compute() for m in single])
    for rank in range(2):
        values = torch.load(tmp_path / f"rank{rank}.pt")
        torch.testing.assert_close(values, expected, rtol=1e-12, atol=1e-12)
    # a process that averaged only its own share would differ
    own = MaskIoU()
    for logits, gt in _ddp_data()[::2]:
        own.update(logits, gt)
    assert abs(own.compute().item() - expected[0].item()) > 1e-3


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_equals_cpu():
    masks = torch.from_numpy(random_masks(np.random.default_rng(5), 101, 203))
    preds = masks.roll(3, dims=-1)
    for fn in (mask_iou, boundary_iou):
        torch.testing.assert_close(fn(preds.cuda(), masks.cuda()).cpu(), fn(preds, masks))
    metric = BoundaryIoU().cuda()
    metric.update(preds.cuda().float() * 2 - 1, masks.cuda().to(torch.uint8) * 255)
    assert metric.compute().item() == pytest.approx(
        boundary_iou(preds, masks).double().mean().item()
    )
