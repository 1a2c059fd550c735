from collections import Counter

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from samhq_train.data import (
    PromptConfig,
    choose_prompt_types,
    noisy_mask,
    sample_points,
    sample_prompts,
    tight_box,
)
from samhq_train.data.prompts import jitter_box
from samhq_train.errors import UserError
from samhq_train.settings import SettingError


def random_mask(seed, s=64):
    rng = np.random.default_rng(seed)
    mask = np.zeros((s, s), np.float32)
    for _ in range(3):
        x0, y0 = rng.integers(0, s - 8, 2)
        w, h = rng.integers(1, 20, 2)
        mask[y0 : y0 + h, x0 : x0 + w] = rng.uniform(100, 255)  # soft values, some below 128
    return mask


@pytest.mark.parametrize("seed", range(5))
def test_box_is_the_tight_box_of_mask_over_128(seed):
    mask = random_mask(seed)
    fg = mask > 128
    if not fg.any():
        assert tight_box(mask) is None
        return
    p = sample_prompts(mask, np.random.default_rng(seed), PromptConfig())
    ys, xs = np.nonzero(fg)
    np.testing.assert_array_equal(p.box, [xs.min(), ys.min(), xs.max(), ys.max()])
    assert p.foreground_pixels == fg.sum()


@pytest.mark.parametrize("seed", range(5))
def test_points_fall_inside_the_mask(seed):
    mask = random_mask(seed)
    if not (mask > 128).any():
        return
    rng = np.random.default_rng(seed)
    for k in (1, 10, 50):
        pts = sample_points(mask, k, rng)
        assert pts.shape == (k, 2)
        assert (mask[pts[:, 1].astype(int), pts[:, 0].astype(int)] > 128).all()
        if (mask > 128).sum() >= k:
            assert len({tuple(p) for p in pts}) == k, "drawn without replacement"


def test_noisy_mask_matches_official_rule():
    """(m + N(0,1) * [|m - up(down(m))| >= 0.01]) > 0.5, on the GT resized to S/4."""
    mask = np.zeros((128, 128), np.float32)
    mask[20:100, 30:90] = 255
    out = noisy_mask(mask, np.random.default_rng(3), 32)
    assert out.shape == (32, 32) and set(np.unique(out)) <= {0.0, 255.0}
    m = F.interpolate(torch.from_numpy(mask)[None, None], (32, 32), mode="bilinear") / 255
    coarse = F.interpolate(F.interpolate(m, (4, 4), mode="bilinear"), (32, 32), mode="bilinear")
    inc = ((m - coarse).abs() >= 0.01)[0, 0].numpy()
    noise = np.random.default_rng(3).standard_normal((32, 32), dtype=np.float32)
    expected = ((m[0, 0].numpy() + noise * inc) > 0.5) * 255.0
    np.testing.assert_array_equal(out, expected)
    assert (out[~inc] == (m[0, 0].numpy()[~inc] > 0.5) * 255).all()


def test_prompt_types_follow_probabilities_and_batch_fallback():
    cfg = PromptConfig()
    draws = np.random.default_rng(0).random(3000)
    counts = Counter(choose_prompt_types(draws, [500] * 3000, cfg))
    for k in ("box", "point", "noise_mask"):
        assert abs(counts[k] / 3000 - 1 / 3) < 0.04
    # one mask under num_points pixels: the whole batch draws from box / noise_mask
    fallback = choose_prompt_types(draws[:300], [500] * 299 + [9], cfg)
    assert "point" not in fallback and Counter(fallback)["box"] > 100
    only_points = PromptConfig(probs={"point": 1.0})
    assert choose_prompt_types([0.5, 0.9], [100, 100], only_points) == ["point", "point"]
    assert choose_prompt_types([0.5, 0.9], [100, 3], only_points) == ["box", "box"]


def test_box_noise_is_optional_and_bounded():
    box = np.array([10, 10, 40, 30], np.float32)
    rng = np.random.default_rng(0)
    assert jitter_box(box, 0.0, rng, 64) is box
    noisy = [jitter_box(box, 0.5, rng, 64) for _ in range(50)]
    assert all((b >= 0).all() and (b <= 64).all() for b in noisy)
    assert not all(np.array_equal(b, box) for b in noisy)


def test_prompts_are_reproducible_under_a_seed():
    mask = random_mask(1)
    a, b = (sample_prompts(mask, np.random.default_rng(5), PromptConfig()) for _ in range(2))
    for field in ("box", "points", "noise_mask"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert a.type_draw == b.type_draw


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "probs",
            {"scribble": 1.0},
            "data.prompts.probs={scribble: 1.0}: expected weights >= 0 "
            "with a positive sum over the prompt types box, point, noise_mask",
        ),
        (
            "probs",
            {"box": 0.0},
            "data.prompts.probs={box: 0.0}: expected weights >= 0 with a positive sum",
        ),
        ("num_points", 0, "data.prompts.num_points=0: expected an integer >= 1"),
        ("num_points", 2.5, "data.prompts.num_points=2.5: expected an integer >= 1"),
        ("box_noise_scale", -0.1, "data.prompts.box_noise_scale=-0.1: expected a number >= 0"),
        ("noise_downscale", 0, "data.prompts.noise_downscale=0: expected an integer >= 1"),
        ("noise_std", "big", "data.prompts.noise_std=big: expected a number >= 0"),
        (
            "eval_prompt",
            "boxes",
            "data.prompts.eval_prompt=boxes: expected one of box, point, noise_mask",
        ),
    ],
)
def test_prompt_config_refuses_a_bad_field_naming_its_full_key(field, value, message):
    with pytest.raises(SettingError) as err:
        PromptConfig(**{field: value})
    assert str(err.value).startswith(message) and "\n" not in str(err.value)
    assert isinstance(err.value, ValueError) and isinstance(err.value, UserError)


def official_box_noise(box, draws, scale, size):
    """HQ-SAM's train/utils/misc.py box_noise on one xyxy box, with its uniform draws in [-1, 1]
    given (the official code draws them as rand * 2 - 1): in cx, cy, w, h the centre moves by
    draws[:2] * (w, h) / 2 * scale and the size by draws[2:] * (w, h) * scale, then clamp to
    [0, size]."""
    x0, y0, x1, y1 = (float(v) for v in box)
    cxcywh = np.array([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0])
    diff = np.concatenate([cxcywh[2:] / 2, cxcywh[2:]])
    cx, cy, w, h = cxcywh + draws * diff * scale
    return np.clip([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 0.0, size)


@pytest.mark.parametrize("box", [[10, 10, 40, 30], [40, 2, 63, 60]])  # the second at the edge
def test_box_noise_is_the_official_formula(box):
    box = np.array(box, np.float32)
    for seed in range(20):
        draws = np.random.default_rng(seed).uniform(-1.0, 1.0, 4)
        got = jitter_box(box, 0.7, np.random.default_rng(seed), 64)
        np.testing.assert_allclose(got, official_box_noise(box, draws, 0.7, 64), atol=1e-4)


def test_noise_std_scales_the_noisy_mask_prompt():
    """data.prompts.noise_std reaches the noisy-mask prompt: 0 gives the resized GT > 0.5
    exactly; a larger std flips more of the incoherent pixels."""
    mask = np.zeros((128, 128), np.float32)
    mask[20:100, 30:90] = 255
    m = F.interpolate(torch.from_numpy(mask)[None, None], (32, 32), mode="bilinear") / 255
    clean = (m[0, 0].numpy() > 0.5) * 255.0
    flips = []
    for std in (0.0, 0.3, 3.0):
        cfg = PromptConfig(noise_std=std, num_points=1)
        prompts = sample_prompts(mask, np.random.default_rng(1), cfg)
        flips.append(int((prompts.noise_mask != clean).sum()))
    assert flips[0] == 0 and 0 < flips[1] < flips[2]


def test_a_pixel_of_exactly_128_is_background():
    """The rule is mask > 128 (a soft resized mask can hold 128 exactly): the box, the points and
    the foreground count leave such pixels out."""
    mask = np.zeros((64, 64), np.float32)
    mask[10:20, 10:30] = 128.0
    mask[30:40, 35:50] = 129.0
    np.testing.assert_array_equal(tight_box(mask), [35, 30, 49, 39])
    points = sample_points(mask, 50, np.random.default_rng(0))
    assert (mask[points[:, 1].astype(int), points[:, 0].astype(int)] == 129.0).all()
    prompts = sample_prompts(mask, np.random.default_rng(0), PromptConfig(num_points=3))
    assert prompts.foreground_pixels == 150
