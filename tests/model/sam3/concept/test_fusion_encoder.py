"""The fusion encoder against Meta's TransformerEncoderFusion built as model_builder's
_create_transformer_encoder builds it (miniature sizes): same random weights, an image grid and a
padded prompt in, the same encoded image tokens, position and prompt out."""

import pytest
import torch

from samhq_train.model.sam3.concept.fusion_encoder import FusionEncoder, FusionEncoderConfig
from tests.reference import randomize_

encoder = pytest.importorskip("sam3.model.encoder")
model_misc = pytest.importorskip("sam3.model.model_misc")


def meta_fusion_encoder(cfg: FusionEncoderConfig):
    lc = cfg.layer

    def attention():
        return model_misc.MultiheadAttentionWrapper(
            num_heads=lc.num_heads, dropout=0.1, embed_dim=lc.d_model, batch_first=True
        )

    layer = encoder.TransformerEncoderLayer(
        activation="relu", d_model=lc.d_model, dim_feedforward=lc.dim_feedforward, dropout=0.1,
        pos_enc_at_attn=True, pos_enc_at_cross_attn_keys=False,
        pos_enc_at_cross_attn_queries=False, pre_norm=True, self_attention=attention(),
        cross_attention=attention(),
    )
    return encoder.TransformerEncoderFusion(
        layer=layer, num_layers=cfg.num_layers, d_model=lc.d_model, num_feature_levels=1,
        frozen=False, use_act_checkpoint=True, add_pooled_text_to_img_feat=False,
        pool_text_with_mask=True,
    ).eval()


def test_encoded_image_equals_meta():
    cfg = FusionEncoderConfig(d_model=32, num_heads=4, dim_feedforward=48, num_layers=2)
    meta = randomize_(meta_fusion_encoder(cfg), seed=4, scale=0.3)
    ours = FusionEncoder(cfg).eval()
    ours.load_state_dict(meta.state_dict(), strict=True)
    gen = torch.Generator().manual_seed(5)
    b, d, h, w, n = 2, 32, 5, 6, 9
    image, image_pos = (torch.randn(b, d, h, w, generator=gen) for _ in range(2))
    prompt = torch.randn(b, n, d, generator=gen)
    prompt_pad = torch.zeros(b, n, dtype=torch.bool)
    prompt_pad[0, -4:] = True
    with torch.no_grad():
        want = meta(
            src=[image.flatten(2).permute(2, 0, 1)],
            src_key_padding_mask=None,
            src_pos=[image_pos.flatten(2).permute(2, 0, 1)],
            prompt=prompt.transpose(0, 1),
            prompt_pos=torch.zeros_like(prompt.transpose(0, 1)),
            prompt_key_padding_mask=prompt_pad,
            feat_sizes=[(h, w)],
        )
        got = ours(image, image_pos, prompt, prompt_pad)
    memory = want["memory"].transpose(0, 1)
    assert got.memory.shape == (b, h * w, d)
    assert ((got.memory - memory).abs().max() / memory.abs().max()).item() <= 1e-5
    assert torch.equal(got.pos_embed, want["pos_embed"].transpose(0, 1))
    assert torch.equal(got.prompt, want["memory_text"].transpose(0, 1))
    assert got.spatial_shape == tuple(want["spatial_shapes"][0].tolist())
    assert want["padding_mask"] is None and want["level_start_index"].tolist() == [0]
    assert torch.equal(want["valid_ratios"], torch.ones(b, 1, 2))


def test_full_size_keys_and_shapes_equal_meta():
    meta = meta_fusion_encoder(FusionEncoderConfig()).state_dict()
    ours = FusionEncoder().state_dict()
    assert len(ours) == 6 * 18
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in meta.items()}
