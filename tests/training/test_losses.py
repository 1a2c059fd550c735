import math

import pytest
import torch

from samhq_train.training.losses import (
    PointSampledMaskLoss,
    dice_loss,
    point_sample,
    sample_uncertain_points,
    sigmoid_bce_loss,
)


def test_point_sample_reads_pixel_centres_and_interpolates_with_zero_padding():
    values = torch.tensor([[[[4.0, 1.0], [2.0, 3.0]]]])  # 1 x 1 x 2 x 2
    coords = torch.tensor(
        [[[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.5, 0.5], [0.0, 0.0], [0.5, 0.25]]]
    )
    got = point_sample(values, coords)[0, 0]
    # pixel centres; the middle (mean of 4); the corner (a quarter of v00, the rest is padding);
    # halfway between the two top pixels
    assert torch.allclose(got, torch.tensor([4.0, 1.0, 2.0, 2.5, 1.0, 2.5]))


def test_bce_and_dice_hand_values():
    logits = torch.zeros(2, 4)
    targets = torch.tensor([[1.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    # BCE at logit 0 is ln 2 whatever the target; mean per mask, summed over 2 masks, / 2
    assert sigmoid_bce_loss(logits, targets, 2.0).item() == pytest.approx(math.log(2))
    # p = 0.5: mask 0: 1 - (2*0.5 + 1) / (2 + 1 + 1) = 0.5 ; mask 1: 1 - (4 + 1) / (2 + 4 + 1) = 2/7
    assert dice_loss(logits, targets, 2.0).item() == pytest.approx((0.5 + 2 / 7) / 2)
    # a confident logit: BCE = softplus(-3) for target 1
    one = sigmoid_bce_loss(torch.full((1, 1), 3.0), torch.ones(1, 1), 1.0)
    assert one.item() == pytest.approx(math.log1p(math.exp(-3.0)))


def test_uncertain_points_are_the_smallest_logits_of_the_candidates():
    logits = torch.tensor([[[[-10.0, 10.0]]]]).repeat(2, 1, 1, 1)  # zero crossing at x = 0.5
    gen = torch.Generator().manual_seed(3)
    points = sample_uncertain_points(logits, 40, 3.0, 0.75, generator=gen)
    assert points.shape == (2, 40, 2)
    assert points.min() >= 0 and points.max() <= 1
    candidates = torch.rand(2, 120, 2, generator=torch.Generator().manual_seed(3))
    for i in range(2):
        chosen = points[i, :30]
        # the 30 chosen are candidates, and no left-out candidate is more uncertain
        assert all((candidates[i] == c).all(-1).any() for c in chosen)
        cand_unc = point_sample(logits[i : i + 1], candidates[i : i + 1])[0, 0].abs()
        chosen_unc = point_sample(logits[i : i + 1], chosen[None])[0, 0].abs()
        assert chosen_unc.max() <= cand_unc.sort().values[30]


def test_official_numbers_of_points():
    gen = torch.Generator().manual_seed(0)
    points = sample_uncertain_points(torch.randn(3, 1, 64, 64), 112 * 112, 3.0, 0.75, generator=gen)
    assert points.shape == (3, 12544, 2)  # 9,408 importance-sampled + 3,136 uniform


def test_loss_hand_value_zero_logits():
    # logits 0 (as the zero padding), target 0: BCE = ln 2, dice = 1 - 1 / (0.5 P + 1), per mask
    out = PointSampledMaskLoss(num_points=100)(torch.zeros(2, 1, 8, 8), torch.zeros(2, 1, 32, 32))
    assert out["loss_bce"].item() == pytest.approx(math.log(2), rel=1e-6)
    assert out["loss_dice"].item() == pytest.approx(1 - 1 / 51, rel=1e-6)
    assert out["loss"].item() == pytest.approx(math.log(2) + 1 - 1 / 51, rel=1e-6)
    # weights and num_masks
    weighted = PointSampledMaskLoss(num_points=100, bce_weight=2.0, dice_weight=0.5)
    out = weighted(torch.zeros(2, 1, 8, 8), torch.zeros(2, 1, 32, 32), num_masks=4.0)
    assert out["loss"].item() == pytest.approx((2 * math.log(2) + 0.5 * (1 - 1 / 51)) / 2, rel=1e-6)


def test_loss_reads_the_full_resolution_target_at_the_points():
    # target: left half 1, right half 0 at 32x32; logits: a perfect, confident prediction at 8x8
    target = torch.zeros(1, 1, 32, 32)
    target[..., :16] = 1.0
    good = torch.full((1, 1, 8, 8), -20.0)
    good[..., :4] = 20.0
    loss = PointSampledMaskLoss(num_points=500)
    gen = torch.Generator().manual_seed(0)
    low = loss(good, target, generator=gen)["loss"]
    high = loss(-good, target, generator=torch.Generator().manual_seed(0))["loss"]
    assert low < 1.0 < high


def test_loss_gradient_reaches_logits_only_through_sampled_points():
    logits = torch.zeros(1, 1, 8, 8, requires_grad=True)
    PointSampledMaskLoss(num_points=50)(logits, torch.ones(1, 1, 16, 16))["loss"].backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0 and (logits.grad <= 0).all()


def test_loss_rejects_wrong_shapes():
    with pytest.raises(ValueError, match="N x 1"):
        PointSampledMaskLoss()(torch.zeros(2, 3, 8, 8), torch.zeros(2, 1, 32, 32))


def test_loss_is_bce_plus_dice_on_the_soft_target_at_the_sampled_points():
    """An independent computation from the definition: the same points (the same generator), the
    soft target read there as it is (a resized mask is soft; it is not binarised), BCE averaged
    per mask and dice per mask, summed over masks / N; the same gradient (both terms train)."""
    gen = torch.Generator().manual_seed(0)
    logits = (torch.randn(3, 1, 16, 16, generator=gen) * 3).requires_grad_()
    coarse = torch.rand(3, 1, 8, 8, generator=gen)
    target = torch.nn.functional.interpolate(coarse, (64, 64), mode="bilinear")  # soft, in [0, 1]
    assert ((target > 0.05) & (target < 0.95)).float().mean() > 0.5
    got = PointSampledMaskLoss(num_points=400)(
        logits, target, generator=torch.Generator().manual_seed(5)
    )
    (grad,) = torch.autograd.grad(got["loss"], logits)
    with torch.no_grad():
        coords = sample_uncertain_points(
            logits, 400, 3.0, 0.75, generator=torch.Generator().manual_seed(5)
        )
        point_targets = point_sample(target, coords)[:, 0]
    point_logits = point_sample(logits, coords)[:, 0]
    bce = torch.nn.functional.binary_cross_entropy_with_logits(point_logits, point_targets)
    p = point_logits.sigmoid()
    dice = 1 - (2 * (p * point_targets).sum(1) + 1) / (p.sum(1) + point_targets.sum(1) + 1)
    torch.testing.assert_close(got["loss_bce"], bce, rtol=1e-5, atol=0)  # equal counts: the mean
    torch.testing.assert_close(got["loss_dice"], dice.mean(), rtol=1e-5, atol=0)
    (expected_grad,) = torch.autograd.grad(bce + dice.mean(), logits)
    torch.testing.assert_close(grad, expected_grad, rtol=1e-5, atol=1e-9)


def test_a_generator_makes_the_points_alone_and_leaves_the_global_rng():
    logits = torch.randn(2, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    state = torch.get_rng_state()
    a = sample_uncertain_points(logits, 50, 3.0, 0.75, generator=torch.Generator().manual_seed(4))
    torch.manual_seed(123)  # another global state: the points must not depend on it
    b = sample_uncertain_points(logits, 50, 3.0, 0.75, generator=torch.Generator().manual_seed(4))
    torch.set_rng_state(state)
    sample_uncertain_points(logits, 50, 3.0, 0.75, generator=torch.Generator().manual_seed(4))
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(a, b)  # the uniform part too (the last 13 points)
    c = sample_uncertain_points(logits, 50, 3.0, 0.75, generator=torch.Generator().manual_seed(5))
    assert not torch.equal(a[:, 37:], c[:, 37:])


def test_the_official_bounds_of_the_ratios_are_accepted():
    """The official sampler asserts oversample_ratio >= 1 and 0 <= importance_sample_ratio <= 1:
    1 and 1 are valid (all candidates, most uncertain first), just beyond them is refused."""
    logits = torch.randn(1, 1, 8, 8, generator=torch.Generator().manual_seed(2))
    points = sample_uncertain_points(
        logits, 30, 1.0, 1.0, generator=torch.Generator().manual_seed(3)
    )
    candidates = torch.rand(1, 30, 2, generator=torch.Generator().manual_seed(3))
    assert all((candidates[0] == p).all(-1).any() for p in points[0])  # every candidate, once
    assert len({tuple(p.tolist()) for p in points[0]}) == 30
    assert sample_uncertain_points(logits, 30, 3.0, 0.0).shape == (1, 30, 2)
    for oversample, importance in ((0.99, 0.5), (3.0, 1.01), (3.0, -0.01)):
        with pytest.raises(ValueError, match="oversample_ratio"):
            sample_uncertain_points(logits, 30, oversample, importance)
