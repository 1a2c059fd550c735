"""SAM 2's training regularisation in our modules against Meta's (sam2 1.1.0), same weights, same
torch seed, training mode: the Hiera trunk with drop_path_rate 0.1 (DropPath, rising over the
blocks) and the memory attention with dropout 0.1 (on both attentions' weights, the residual
branches and the MLP), as the MOSE fine-tune config sets them. The random draws happen in the
same order on the same shapes, so the outputs agree to float precision; in eval mode nothing
changes."""

import pytest
import torch

from samhq_train.model import build_sam_hq, without_hq
from tests.reference import randomize_

pytest.importorskip("sam2")
from hydra import initialize_config_module  # noqa: E402
from sam2.build_sam import build_sam2  # noqa: E402

from tests.model.sam2.test_meta_load import META_CONFIG, MINIATURE, VARIANT  # noqa: E402

RATE = 0.1
ATOL = 1e-5
SEEDS = (0, 1, 2)


@pytest.fixture(scope="module")
def pair():
    ours = randomize_(build_sam_hq(VARIANT, seed=0), seed=3)
    overrides = [*MINIATURE, f"++model.image_encoder.trunk.drop_path_rate={RATE}"]
    for key in ("dropout", "self_attention.dropout", "cross_attention.dropout"):
        overrides.append(f"++model.memory_attention.layer.{key}={RATE}")
    with initialize_config_module("sam2", version_base="1.2"):
        meta = build_sam2(META_CONFIG, device="cpu", hydra_overrides_extra=overrides)
    meta.load_state_dict(without_hq(ours.state_dict()), strict=True)
    ours.image_encoder.trunk.set_drop_path_rate(RATE)
    ours.memory_attention.set_dropout(RATE)
    return ours, meta


def run_both(ours_fn, meta_fn, seed):
    torch.manual_seed(seed)
    a = ours_fn()
    torch.manual_seed(seed)
    b = meta_fn()
    return a, b


def test_trunk_drop_path_equals_meta(pair):
    ours, meta = pair
    trunk, meta_trunk = ours.image_encoder.trunk, meta.image_encoder.trunk
    rates = [block.drop_path for block in trunk.blocks]
    assert rates == [getattr(b.drop_path, "drop_prob", 0.0) for b in meta_trunk.blocks]
    x = torch.randn(6, 3, 256, 256, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        trunk.eval()
        plain = trunk(x)
        trunk.train()
        meta_trunk.train()
        for seed in SEEDS:
            a, b = run_both(lambda: trunk(x), lambda: meta_trunk(x), seed)
            assert len(a) == len(b) == 4
            for ours_map, meta_map in zip(a, b, strict=True):
                assert (ours_map - meta_map).abs().max() <= ATOL
        assert any((m - p).abs().max() > 1e-3 for m, p in zip(a, plain, strict=True))
        trunk.eval()  # eval mode: drop-path off
        assert all(torch.equal(m, p) for m, p in zip(trunk(x), plain, strict=True))


def memory_inputs(batch=3, side=16, frames=2, pointers=4):
    gen = torch.Generator().manual_seed(5)
    n, m = side * side, frames * side * side + pointers
    return (torch.randn(batch, n, 64, generator=gen), torch.randn(batch, n, 64, generator=gen),
            torch.randn(batch, m, 64, generator=gen), torch.randn(batch, m, 64, generator=gen),
            pointers)


def test_memory_attention_dropout_equals_meta(pair):
    ours, meta = pair
    ma, meta_ma = ours.memory_attention, meta.memory_attention
    x, x_pos, memory, memory_pos, pointers = memory_inputs()

    def theirs():  # sequence-first in and out
        out = meta_ma(x.transpose(0, 1), memory.transpose(0, 1), x_pos.transpose(0, 1),
                      memory_pos.transpose(0, 1), pointers)
        return out.transpose(0, 1)

    with torch.no_grad():
        ma.eval()
        plain = ma(x, x_pos, memory, memory_pos, pointers)
        ma.train()
        meta_ma.train()
        for seed in SEEDS:
            a, b = run_both(lambda: ma(x, x_pos, memory, memory_pos, pointers), theirs, seed)
            assert (a - b).abs().max() <= ATOL
        assert (a - plain).abs().max() > 1e-2
        ma.eval()
        assert torch.equal(ma(x, x_pos, memory, memory_pos, pointers), plain)
        meta_ma.eval()
        assert (theirs() - plain).abs().max() <= ATOL


def test_off_by_default():
    model = build_sam_hq(VARIANT, seed=0)
    assert all(block.drop_path == 0.0 for block in model.image_encoder.trunk.blocks)
    assert all(layer.dropout == layer.self_attn.dropout == layer.cross_attn_image.dropout == 0.0
               for layer in model.memory_attention.layers)
