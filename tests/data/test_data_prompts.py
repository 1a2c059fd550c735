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
