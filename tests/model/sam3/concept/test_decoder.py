"""The detector decoder against Meta's TransformerDecoder + TransformerDecoderLayer built as
model_builder's _create_transformer_decoder builds them (miniature sizes, eval: no DAC): same random
weights, same encoded image and padded prompt in; each layer's queries, reference boxes, presence
logits, the presence features and the final boxes out."""

import pytest
import torch

from samhq_train.model.sam3.concept.boxes import sine_embed_boxes
from samhq_train.model.sam3.concept.decoder import Decoder, DecoderConfig
from tests.reference import randomize_

meta_decoder = pytest.importorskip("sam3.model.decoder")
model_misc = pytest.importorskip("sam3.model.model_misc")
box_ops = pytest.importorskip("sam3.model.box_ops")

MINI = DecoderConfig(d_model=32, num_heads=4, dim_feedforward=48, num_layers=2, num_queries=10)
STRIDE = 14


@pytest.fixture(autouse=True)
def coords_on_cpu(monkeypatch):
    """Meta precomputes the bias grid's coordinates on "cuda" when given resolution / stride; the
    same values on the CPU."""
    get_coords = meta_decoder.TransformerDecoder._get_coords
    monkeypatch.setattr(
        meta_decoder.TransformerDecoder,
        "_get_coords",
        staticmethod(lambda h, w, device: get_coords(h, w, device="cpu")),
    )


def build_meta(cfg: DecoderConfig, grid: int):
    layer = meta_decoder.TransformerDecoderLayer(
        activation="relu", d_model=cfg.d_model, dim_feedforward=cfg.dim_feedforward, dropout=0.1,
        cross_attention=model_misc.MultiheadAttentionWrapper(
            num_heads=cfg.num_heads, dropout=0.1, embed_dim=cfg.d_model
        ),
        n_heads=cfg.num_heads, use_text_cross_attention=True,
    )
    return meta_decoder.TransformerDecoder(
        layer=layer, num_layers=cfg.num_layers, num_queries=cfg.num_queries,
        return_intermediate=True, box_refine=True, num_o2m_queries=0, dac=True, boxRPB="log",
        d_model=cfg.d_model, frozen=False, interaction_layer=None, dac_use_selfatt_ln=True,
        resolution=grid * STRIDE, stride=STRIDE, use_act_checkpoint=True, presence_token=True,
    ).eval()


def twins(seed: int = 6):
    meta = randomize_(build_meta(MINI, grid=6), seed=seed, scale=0.3)
    with torch.no_grad():  # reference boxes of all sizes, some near the image border
        meta.reference_points.weight.normal_(0.0, 1.5, generator=torch.Generator().manual_seed(7))
    ours = Decoder(MINI).eval()
    ours.load_state_dict(meta.state_dict(), strict=True)
    return meta, ours


def run_meta(meta, memory, memory_pos, shape, prompt, prompt_pad):
    b = memory.shape[0]
    tgt = meta.query_embed.weight.unsqueeze(1).repeat(1, b, 1)
    hs, refs, presence, presence_feats = meta(
        tgt=tgt, memory=memory.transpose(0, 1), memory_key_padding_mask=None,
        pos=memory_pos.transpose(0, 1), reference_boxes=None,
        level_start_index=torch.zeros(1, dtype=torch.long),
        spatial_shapes=torch.tensor([shape]), valid_ratios=torch.ones(b, 1, 2), tgt_mask=None,
        memory_text=prompt.transpose(0, 1), text_attention_mask=prompt_pad, apply_dac=False,
    )
    return hs.transpose(1, 2), refs.transpose(1, 2), presence.transpose(1, 2), presence_feats


def relative_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.mark.parametrize("shape", [(6, 6), (5, 7)])  # Meta's precomputed grid, and another
def test_layers_equal_meta(shape):
    meta, ours = twins()
    gen = torch.Generator().manual_seed(8)
    b, d, n, hw = 2, MINI.d_model, 9, shape[0] * shape[1]
    memory, memory_pos = (torch.randn(b, hw, d, generator=gen) for _ in range(2))
    prompt = torch.randn(b, n, d, generator=gen)
    prompt_pad = torch.zeros(b, n, dtype=torch.bool)
    prompt_pad[1, -5:] = True
    with torch.no_grad():
        hs, refs, presence, presence_feats = run_meta(
            meta, memory, memory_pos, shape, prompt, prompt_pad
        )
        got = ours(memory, memory_pos, shape, prompt, prompt_pad)
        boxes, boxes_xyxy = ours.predict_boxes(got.hs, got.reference_boxes)
        want_boxes = (model_misc.inverse_sigmoid(refs) + meta.bbox_embed(hs)).sigmoid()
        same_input_boxes = model_misc.inverse_sigmoid(got.reference_boxes) + meta.bbox_embed(got.hs)
    q, layers = MINI.num_queries, MINI.num_layers
    assert got.hs.shape == (layers, b, q, d) and got.reference_boxes.shape == (layers, b, q, 4)
    assert got.presence_logits.shape == (layers, b, 1) and got.presence_feats.shape == (b, 1, d)
    for layer in range(layers):  # the refinement changed the boxes: layer 1 compares new ones
        assert relative_diff(got.hs[layer], hs[layer]) <= 1e-5
        assert relative_diff(got.reference_boxes[layer], refs[layer]) <= 1e-5
        assert relative_diff(got.presence_logits[layer], presence[layer]) <= 1e-5
    assert not torch.allclose(refs[0], refs[1], atol=1e-3)
    assert relative_diff(got.presence_feats, presence_feats.transpose(0, 1)) <= 1e-5
    # the formula on the same hs / references; then end to end, where the random box head turns
    # hs's fp32 noise (~1e-5 absolute) into as much on boxes in [0, 1]
    assert torch.allclose(boxes, same_input_boxes.sigmoid(), atol=1e-7, rtol=0)
    assert torch.allclose(boxes, want_boxes, atol=3e-5, rtol=0)
    assert torch.allclose(boxes_xyxy, box_ops.box_cxcywh_to_xyxy(want_boxes), atol=3e-5, rtol=0)


def test_box_sine_embedding_equals_meta():
    boxes = torch.rand(3, 5, 4, generator=torch.Generator().manual_seed(9))
    want = model_misc.gen_sineembed_for_position(boxes, 64)
    assert torch.allclose(sine_embed_boxes(boxes, 64), want, atol=1e-6, rtol=0)


def test_full_size_keys_and_shapes_equal_meta():
    meta = build_meta(DecoderConfig(), grid=72).state_dict()
    ours = Decoder().state_dict()
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in meta.items()}
    assert ours["query_embed.weight"].shape == (200, 256)
    assert ours["boxRPB_embed_x.layers.1.weight"].shape == (8, 256)
