"""SAM 3's dot-product scoring against Meta's DotProductScoring (model_builder's MLP: residual +
output LayerNorm), same randomised weights, prompts with padding in batch-first layout."""

import pytest
import torch
from torch import nn

from samhq_train.model.sam3.concept.scoring import DotProductScoring, DotProductScoringConfig
from tests.reference import randomize_

pytest.importorskip("sam3")
from sam3.model import model_misc  # noqa: E402

MINI = DotProductScoringConfig(d_model=32, d_proj=24, mlp_hidden_dim=48, clamp_max=2.0)


def meta_scoring(cfg: DotProductScoringConfig) -> nn.Module:
    mlp = model_misc.MLP(
        input_dim=cfg.d_model,
        hidden_dim=cfg.mlp_hidden_dim,
        output_dim=cfg.d_model,
        num_layers=cfg.mlp_num_layers,
        dropout=0.1,
        residual=True,
        out_norm=nn.LayerNorm(cfg.d_model),
    )
    return model_misc.DotProductScoring(
        d_model=cfg.d_model, d_proj=cfg.d_proj, prompt_mlp=mlp, clamp_max_val=cfg.clamp_max
    )


def test_full_size_keys_and_shapes_equal_metas():
    from sam3.model_builder import _create_dot_product_scoring

    theirs = {k: v.shape for k, v in _create_dot_product_scoring().state_dict().items()}
    ours = {k: v.shape for k, v in DotProductScoring().state_dict().items()}
    assert ours == theirs


def test_logits_equal_metas_with_padded_prompts():
    meta = randomize_(meta_scoring(MINI), seed=3, scale=0.3).eval()
    ours = DotProductScoring(MINI).eval()
    ours.load_state_dict(meta.state_dict(), strict=True)
    gen = torch.Generator().manual_seed(0)
    layers, batch, queries, seq = 3, 3, 5, 6
    hs = torch.randn(layers, batch, queries, MINI.d_model, generator=gen)
    prompt = torch.randn(batch, seq, MINI.d_model, generator=gen)
    lengths = torch.tensor([6, 2, 4])  # right-padded: the rest of each row is padding
    padding = torch.arange(seq)[None] >= lengths[:, None]
    prompt[padding] = 50.0  # padded tokens must not reach the pooled prompt
    with torch.no_grad():
        want = meta(hs, prompt.transpose(0, 1), padding)
        got = ours(hs, prompt, padding)
    assert got.shape == want.shape == (layers, batch, queries, 1)
    clamped = (want.abs() == MINI.clamp_max).float().mean().item()
    assert 0.0 < clamped < 0.9  # both the clamp and the free range are exercised
    err = ((got - want).abs().max() / want.abs().max()).item()
    print(f"scoring max rel diff {err:.2e}, clamped share {clamped:.2f}")
    assert err <= 1e-6
