"""The concept detector's encoder layer against Meta's sam3 TransformerEncoderLayer, built as
model_builder builds it for the fusion encoder (batch-first attention, image positions on
self-attention) and for the geometry encoder (sequence-first attention, memory positions on the
cross-attention keys): same random weights, same padded inputs, same outputs."""

import dataclasses

import pytest
import torch

from samhq_train.model.sam3.concept.encoder_layer import (
    FUSION_LAYER,
    GEOMETRY_LAYER,
    EncoderLayer,
    EncoderLayerConfig,
)
from tests.reference import randomize_

encoder = pytest.importorskip("sam3.model.encoder")
model_misc = pytest.importorskip("sam3.model.model_misc")

MINI = dict(d_model=32, num_heads=4, dim_feedforward=48)


def meta_layer(cfg: EncoderLayerConfig, batch_first: bool):
    def attention():
        return model_misc.MultiheadAttentionWrapper(
            num_heads=cfg.num_heads, dropout=0.1, embed_dim=cfg.d_model, batch_first=batch_first
        )

    return encoder.TransformerEncoderLayer(
        activation="relu",
        d_model=cfg.d_model,
        dim_feedforward=cfg.dim_feedforward,
        dropout=0.1,
        pos_enc_at_attn=cfg.pos_enc_at_attn,
        pos_enc_at_cross_attn_keys=cfg.pos_enc_at_cross_attn_keys,
        pos_enc_at_cross_attn_queries=cfg.pos_enc_at_cross_attn_queries,
        pre_norm=True,
        self_attention=attention(),
        cross_attention=attention(),
    ).eval()


def twins(cfg: EncoderLayerConfig, batch_first: bool, seed: int = 0):
    meta = randomize_(meta_layer(cfg, batch_first), seed=seed, scale=0.3)
    ours = EncoderLayer(cfg).eval()
    ours.load_state_dict(meta.state_dict(), strict=True)
    return meta, ours


def padded_inputs(d: int, n: int = 7, m: int = 11, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    tgt, query_pos = (torch.randn(2, n, d, generator=gen) for _ in range(2))
    memory, memory_pos = (torch.randn(2, m, d, generator=gen) for _ in range(2))
    tgt_pad = torch.zeros(2, n, dtype=torch.bool)
    tgt_pad[1, -3:] = True
    memory_pad = torch.zeros(2, m, dtype=torch.bool)
    memory_pad[0, -4:] = True
    return tgt, query_pos, memory, memory_pos, tgt_pad, memory_pad


def relative_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


def test_fusion_setting_equals_meta():
    cfg = dataclasses.replace(FUSION_LAYER, **MINI)
    meta, ours = twins(cfg, batch_first=True)
    tgt, query_pos, memory, _, tgt_pad, memory_pad = padded_inputs(cfg.d_model)
    with torch.no_grad():
        want = meta(
            tgt=tgt, memory=memory, query_pos=query_pos, tgt_key_padding_mask=tgt_pad,
            memory_key_padding_mask=memory_pad,
        )
        got = ours(
            tgt, memory, query_pos=query_pos, tgt_key_padding_mask=tgt_pad,
            memory_key_padding_mask=memory_pad,
        )
    assert got.shape == tgt.shape
    assert relative_diff(got, want) <= 1e-5


def test_geometry_setting_equals_meta():
    cfg = dataclasses.replace(GEOMETRY_LAYER, **MINI)
    meta, ours = twins(cfg, batch_first=False, seed=2)
    tgt, _, memory, memory_pos, tgt_pad, memory_pad = padded_inputs(cfg.d_model, seed=3)
    with torch.no_grad():
        want = meta(
            tgt=tgt.transpose(0, 1), memory=memory.transpose(0, 1),
            pos=memory_pos.transpose(0, 1), tgt_key_padding_mask=tgt_pad,
            memory_key_padding_mask=memory_pad,
        ).transpose(0, 1)
        got = ours(
            tgt, memory, memory_pos=memory_pos, tgt_key_padding_mask=tgt_pad,
            memory_key_padding_mask=memory_pad,
        )
    assert relative_diff(got, want) <= 1e-5


@pytest.mark.parametrize("cfg", [FUSION_LAYER, GEOMETRY_LAYER])
def test_full_size_keys_and_shapes_equal_meta(cfg):
    meta = meta_layer(cfg, batch_first=True).state_dict()
    ours = EncoderLayer(cfg).state_dict()
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in meta.items()}
