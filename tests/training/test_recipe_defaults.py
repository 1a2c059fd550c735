"""The official recipe's numbers (/work/shared/RECIPE.md) where code defaults hold them: the loss
class and the training transform are usable without a config, so their defaults must be the
recipe's and agree with conf/ (a run and an API user then train the same way). Where a default
is a distribution (large-scale jitter, the flip), it is checked by drawing from it."""

import numpy as np
import pytest

from samhq_train.data import PromptConfig
from samhq_train.data.transform_builders import build_train_transform
from samhq_train.training.losses import PointSampledMaskLoss
from tests.training.helpers import compose_cfg

# RECIPE.md, "Loss": 112 * 112 points, oversample 3, importance 0.75, BCE and dice 1:1
OFFICIAL_LOSS = {
    "num_points": 112 * 112,
    "oversample_ratio": 3.0,
    "importance_sample_ratio": 0.75,
    "bce_weight": 1.0,
    "dice_weight": 1.0,
}


def test_the_loss_defaults_are_the_recipe_and_the_config(tmp_path):
    loss = PointSampledMaskLoss()
    assert {k: getattr(loss, k) for k in OFFICIAL_LOSS} == OFFICIAL_LOSS
    cfg = compose_cfg(tmp_path, tmp_path, "experiment=paper", "model=vit_b", small=False)
    assert dict(cfg.loss) == OFFICIAL_LOSS


def test_the_prompt_defaults_are_the_recipe_and_the_config(tmp_path):
    """RECIPE.md, "Prompts": box / point / noisy mask 1/3 each; 10 positive points (a batch with
    a mask under 10 foreground pixels draws no points); the tight box without noise; noise where
    the mask differs from its S/4 -> S/32 -> S/4 round trip, N(0, 1); the GT box to evaluate."""
    official = {
        "probs": {"box": 1.0, "point": 1.0, "noise_mask": 1.0},
        "num_points": 10,
        "box_noise_scale": 0.0,
        "noise_downscale": 8,
        "noise_std": 1.0,
        "eval_prompt": "box",
        "correction_clicks": 0,  # an option of ours, off in the official recipe
    }
    defaults = PromptConfig()
    assert {k: getattr(defaults, k) for k in official} == official
    cfg = compose_cfg(tmp_path, tmp_path, "experiment=paper", "model=vit_b", small=False)
    assert {k: cfg.data.prompts[k] for k in official} == official


def test_the_paper_optimiser_is_adam_with_the_official_moments(tmp_path):
    """RECIPE.md, "Optimisation": Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)."""
    import hydra
    import torch

    cfg = compose_cfg(tmp_path, tmp_path, "experiment=paper", "model=vit_b", small=False)
    optimizer = hydra.utils.instantiate(cfg.optimizer)([torch.nn.Parameter(torch.zeros(1))])
    assert type(optimizer) is torch.optim.Adam
    d = optimizer.defaults
    assert (d["lr"], tuple(d["betas"]), d["eps"]) == (1e-3, (0.9, 0.999), 1e-8)
    assert d["weight_decay"] == 0
    assert d["amsgrad"] is False


def test_the_paper_augmentation_settings_are_the_transform_defaults(tmp_path):
    cfg = compose_cfg(tmp_path, tmp_path, "experiment=paper", "model=vit_b", small=False)
    settings = dict(cfg.data.train_transform)
    assert settings == {"scale_range": [0.1, 2.0], "hflip_p": 0.5, "image_pad": 128, "mask_pad": 0}
    default = build_train_transform(64)
    given = build_train_transform(64, **{**settings, "scale_range": tuple(settings["scale_range"])})
    for a, b in zip(default.stages, given.stages):
        assert repr(a) == repr(b)  # albumentations' own description of every stage and parameter


def _square(size: int) -> tuple[np.ndarray, np.ndarray]:
    """A size x size image and a mask whose left half is foreground (a flip moves it right)."""
    mask = np.zeros((size, size), np.float32)
    mask[:, : size // 2] = 255
    return np.full((size, size, 3), 90, np.uint8), mask


def test_default_jitter_draws_the_long_side_from_a_tenth_to_twice_the_size():
    """s ~ U(0.1, 2.0): the resized long side is min(S, round(s * S)) in input_size; about
    (1 - 0.1) / 1.9 = 47% of draws are below S, and the smallest come near 0.1 * S."""
    s, draws = 64, 400
    transform = build_train_transform(s, hflip_p=0.0)
    transform.set_random_state(np.random.default_rng(0))
    image, mask = _square(s)
    long_sides = np.array([max(transform(image, mask).input_size) for _ in range(draws)])
    below = np.mean(long_sides < s)
    assert 0.38 < below < 0.56, below
    assert long_sides.min() <= round(0.13 * s)  # P(no draw under 0.13) = (1 - 0.03/1.9)^400 < 0.2%
    assert long_sides.min() >= round(0.1 * s)


def test_default_flip_is_a_fair_coin():
    s, draws = 32, 300
    transform = build_train_transform(s, scale_range=(1.0, 1.0))  # no resize, no crop
    transform.set_random_state(np.random.default_rng(1))
    image, mask = _square(s)
    flipped = []
    for _ in range(draws):
        out = transform(image, mask).mask
        assert out[:, : s // 2].all() != out[:, s // 2 :].all()  # one half, untouched or mirrored
        flipped.append(bool(out[:, s // 2 :].all()))
    assert 0.4 < np.mean(flipped) < 0.6  # 300 fair flips: 0.5 +- 0.029 (1 sigma)


@pytest.mark.parametrize("scale,expected", [(0.557, 56), (0.553, 55), (0.996, 100)])
def test_jitter_rounds_the_scaled_long_side(scale, expected):
    """Official LargeScaleJitter: long side = round(s * S), the short side scaled alike
    (resize_longest_side_shape), not truncated."""
    s = 100
    transform = build_train_transform(s, scale_range=(scale, scale), hflip_p=0.0)
    transform.set_random_state(np.random.default_rng(0))
    image = np.full((50, 100, 3), 90, np.uint8)
    mask = np.zeros((50, 100), np.float32)
    assert transform(image, mask).input_size == (round(expected / 2), expected)


def test_jitter_resizes_the_mask_bilinearly_as_the_official_code():
    """Official LargeScaleJitter: F.interpolate(mode="bilinear") of the 0-255 mask, so edges
    stay soft (thresholded at > 128 later); the rest of the S x S frame is mask padding 0."""
    import torch
    import torch.nn.functional as F

    s, scale = 100, 0.37
    transform = build_train_transform(s, scale_range=(scale, scale), hflip_p=0.0)
    transform.set_random_state(np.random.default_rng(0))
    mask = np.zeros((60, 90), np.float32)
    mask[10:40, 20:70] = 255
    mask[45:47, 5:85] = 255  # a thin part: only soft values survive a 0.41x resize
    out = transform(np.zeros((60, 90, 3), np.uint8), mask)
    h, w = out.input_size
    assert (h, w) == (25, 37)
    expected = F.interpolate(torch.from_numpy(mask)[None, None], (h, w), mode="bilinear",
                             align_corners=False)[0, 0].numpy()
    np.testing.assert_allclose(out.mask[:h, :w], expected, atol=0.02)
    assert ((expected > 0) & (expected < 255)).any()
    assert (out.mask[h:] == 0).all() and (out.mask[:, w:] == 0).all()


def test_the_benchmark_resize_is_the_official_bilinear_squash():
    """RECIPE.md, "Augmentation": evaluation resizes to S x S without keeping the aspect, with
    F.interpolate(mode="bilinear") on image and mask (the official loader); uint8 rounding
    aside, ours gives the same pixels."""
    import torch
    import torch.nn.functional as F

    from samhq_train.data.transform_builders import build_eval_transform

    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (60, 90, 3), dtype=np.uint8)
    mask = np.zeros((60, 90), np.float32)
    mask[10:40, 20:70] = 255
    out = build_eval_transform(37)(image, mask)
    assert out.input_size == (37, 37)

    def official(x: np.ndarray) -> np.ndarray:
        t = torch.from_numpy(x).float().reshape(60, 90, -1).permute(2, 0, 1)[None]
        t = F.interpolate(t, (37, 37), mode="bilinear", align_corners=False)
        return t[0].permute(1, 2, 0).numpy()

    np.testing.assert_allclose(out.image.astype(np.float32), official(image), atol=1.0)
    np.testing.assert_allclose(out.mask, official(mask)[..., 0], atol=0.02)
