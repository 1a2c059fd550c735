"""SAM 2.1's per-forward constants (Hiera's position embedding, the FPN neck's sine encodings) kept
between inference calls (model/inference_constants.py): the outputs stay bit for bit those of a
fresh encoder (fp32 and bf16 autocast, two sizes, alternating), a weight load or an in-place
update makes them again, and under autograd nothing is kept, so gradients reach pos_embed."""

import copy

import pytest
import torch

from samhq_train.model import build_sam_hq
from samhq_train.model.inference_constants import forget_constants, keeps_constants
from samhq_train.model.sam2 import hiera, image_encoder
from tests.reference import randomize_
from tests.spies import count_calls

VARIANT = "sam2.1_hq_hiera_demo"


def encoder(seed: int = 1) -> image_encoder.ImageEncoder:
    return randomize_(build_sam_hq(VARIANT, seed=0).image_encoder.eval(), seed=seed, scale=0.3)


def image(size: int, batch: int = 1) -> torch.Tensor:
    return torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(size))


def run(model, x, bf16: bool) -> list[torch.Tensor]:
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        features, pos = model(x)
    return [*features, *pos]


def assert_bitwise(ours, expected):
    assert len(ours) == len(expected)
    for a, b in zip(ours, expected):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert torch.equal(a, b)


def fresh(model):
    """A copy whose caches are empty (they are not copied): the uncached computation."""
    return copy.deepcopy(model)


def test_kept_constants_give_the_fresh_encoders_outputs_bit_for_bit(monkeypatch):
    model = encoder()
    made = count_calls(monkeypatch, hiera.Hiera, "_make_position_embedding")
    sines = count_calls(monkeypatch, image_encoder, "sine_position_encoding")
    calls = [(256, 1, False), (224, 2, False), (256, 2, True), (224, 1, True), (256, 1, False)]
    for size, batch, bf16 in calls:
        x = image(size, batch)
        expected = run(fresh(model), x, bf16)
        made.clear(), sines.clear()
        assert_bitwise(run(model, x, bf16), expected)  # (the size / dtype changed: made again)
        made.clear(), sines.clear()
        assert_bitwise(run(model, x, bf16), expected)  # now kept: nothing made
        assert made == [] and sines == []
    forget_constants(model)  # (the A/B timings' uncached path)
    assert len(model.trunk._constants) == len(model.neck._constants) == 0


def test_a_weight_load_or_an_in_place_update_makes_them_again():
    model = encoder()
    x = image(224)
    before = run(model, x, bf16=False)
    model.load_state_dict(encoder(seed=2).state_dict())
    expected = run(fresh(model), x, bf16=False)
    assert not torch.equal(expected[0], before[0])
    assert_bitwise(run(model, x, bf16=False), expected)
    with torch.no_grad():  # as an optimizer step does
        model.trunk.pos_embed.add_(0.5)
        model.trunk.pos_embed_window.mul_(2.0)
    expected = run(fresh(model), x, bf16=False)
    assert_bitwise(run(model, x, bf16=False), expected)


@pytest.mark.parametrize("bf16", [False, True])
def test_under_autograd_nothing_is_kept_and_gradients_reach_pos_embed(bf16):
    model = encoder().requires_grad_(True)
    run(model, image(224), bf16)  # kept for inference ...
    model.zero_grad()
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        features, pos = model(image(224))  # ... but not served to a forward autograd records
    assert all(p.grad_fn is None for p in pos)  # the sine grid has no parameter
    sum(f.float().square().mean() for f in features).backward()
    for name in ("pos_embed", "pos_embed_window"):
        grad = getattr(model.trunk, name).grad
        assert grad is not None and grad.abs().sum() > 0, name
    fresh_model = fresh(model)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        fresh_model(image(224))
    assert len(fresh_model.trunk._constants) == len(fresh_model.neck._constants) == 0


def test_tracing_and_grad_mode_decide_whether_constants_are_kept():
    assert not keeps_constants()  # grad on
    with torch.no_grad():
        assert keeps_constants()
    with torch.inference_mode():
        assert keeps_constants()
    seen = []

    def traced(x):
        seen.append(keeps_constants())
        return x + 1

    with torch.no_grad():
        torch.jit.trace(traced, torch.zeros(2), check_trace=False)
    assert seen and not any(seen)
