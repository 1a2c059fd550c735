"""The fusion encoder and the decoder chained as Sam3Image.forward_grounding chains them
(_run_encoder, then _run_decoder and the boxes of _update_scores_and_boxes), loaded from one Meta
TransformerWrapper's state dict (the checkpoint's detector.transformer.*) by its encoder. / decoder.
prefixes, against Meta's chain on the same padded prompt."""

import pytest
import torch

from samhq_train.model.sam3.concept.decoder import Decoder, DecoderConfig
from samhq_train.model.sam3.concept.fusion_encoder import FusionEncoder, FusionEncoderConfig
from tests.model.sam3.concept.test_decoder import MINI, build_meta, coords_on_cpu  # noqa: F401
from tests.model.sam3.concept.test_fusion_encoder import meta_fusion_encoder
from tests.reference import randomize_

model_misc = pytest.importorskip("sam3.model.model_misc")
box_ops = pytest.importorskip("sam3.model.box_ops")

GRID = 6


def meta_transformer(enc: FusionEncoderConfig, dec: DecoderConfig, grid: int):
    return model_misc.TransformerWrapper(
        encoder=meta_fusion_encoder(enc), decoder=build_meta(dec, grid), d_model=dec.d_model
    ).eval()


def ours_from(state: dict, enc: FusionEncoderConfig, dec: DecoderConfig):
    parts = {"encoder": FusionEncoder(enc).eval(), "decoder": Decoder(dec).eval()}
    for prefix, module in parts.items():
        sub = {k[len(prefix) + 1:]: v for k, v in state.items() if k.startswith(prefix + ".")}
        module.load_state_dict(sub, strict=True)
    return parts["encoder"], parts["decoder"]


def meta_chain(meta, image, image_pos, prompt, prompt_pad):
    """Sam3Image._run_encoder / _run_decoder / _update_scores_and_boxes (eval), sequence-first."""
    b, _, h, w = image.shape
    seq_prompt = prompt.transpose(0, 1)
    enc = meta.encoder(
        src=[image.flatten(2).permute(2, 0, 1)], src_key_padding_mask=None,
        src_pos=[image_pos.flatten(2).permute(2, 0, 1)], prompt=seq_prompt,
        prompt_pos=torch.zeros_like(seq_prompt), prompt_key_padding_mask=prompt_pad,
        feat_sizes=[(h, w)],
    )
    hs, refs, presence, _ = meta.decoder(
        tgt=meta.decoder.query_embed.weight.unsqueeze(1).repeat(1, b, 1), memory=enc["memory"],
        memory_key_padding_mask=enc["padding_mask"], pos=enc["pos_embed"], reference_boxes=None,
        level_start_index=enc["level_start_index"], spatial_shapes=enc["spatial_shapes"],
        valid_ratios=enc["valid_ratios"], tgt_mask=None, memory_text=seq_prompt,
        text_attention_mask=prompt_pad, apply_dac=False,
    )
    hs, refs = hs.transpose(1, 2), refs.transpose(1, 2)
    boxes = (model_misc.inverse_sigmoid(refs) + meta.decoder.bbox_embed(hs)).sigmoid()
    return enc["memory"].transpose(0, 1), hs, presence.transpose(1, 2), boxes


def test_chain_equals_meta():
    enc_cfg = FusionEncoderConfig(d_model=32, num_heads=4, dim_feedforward=48, num_layers=2)
    meta = randomize_(meta_transformer(enc_cfg, MINI, GRID), seed=10, scale=0.3)
    with torch.no_grad():
        gen = torch.Generator().manual_seed(12)
        meta.decoder.reference_points.weight.normal_(0.0, 1.5, generator=gen)
    encoder, decoder = ours_from(meta.state_dict(), enc_cfg, MINI)
    gen = torch.Generator().manual_seed(11)
    image, image_pos = (torch.randn(2, 32, GRID, GRID, generator=gen) for _ in range(2))
    prompt = torch.randn(2, 8, 32, generator=gen)
    prompt_pad = torch.zeros(2, 8, dtype=torch.bool)
    prompt_pad[0, 3:] = True
    with torch.no_grad():
        memory, hs, presence, boxes = meta_chain(meta, image, image_pos, prompt, prompt_pad)
        encoded = encoder(image, image_pos, prompt, prompt_pad)
        out = decoder(
            encoded.memory, encoded.pos_embed, encoded.spatial_shape, encoded.prompt, prompt_pad
        )
        got_boxes, _ = decoder.predict_boxes(out.hs, out.reference_boxes)
    for got, want in ((encoded.memory, memory), (out.hs, hs), (out.presence_logits, presence)):
        assert ((got - want).abs().max() / want.abs().max()).item() <= 1e-5
    assert torch.allclose(got_boxes, boxes, atol=3e-5, rtol=0)


def test_full_size_keys_and_shapes_equal_meta():
    meta = meta_transformer(FusionEncoderConfig(), DecoderConfig(), grid=72).state_dict()
    ours = {
        f"{prefix}.{k}": v.shape
        for prefix, module in (("encoder", FusionEncoder()), ("decoder", Decoder()))
        for k, v in module.state_dict().items()
    }
    assert ours == {k: v.shape for k, v in meta.items()}
