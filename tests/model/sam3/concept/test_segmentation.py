"""SAM 3's segmentation head (detector.segmentation_head) against Meta's UniversalSegmentationHead
with its PixelDecoder and prompt cross-attention, built as model_builder builds it: a miniature
with every tensor randomised (same weights loaded strict), fed Meta's seq-first layout and ours
batch-first; and the full-size key set and shapes."""

import pytest
import torch

from samhq_train.model.sam3.concept.segmentation import SegmentationHead, SegmentationHeadConfig
from tests.reference import randomize_

pytest.importorskip("sam3")

MINI = SegmentationHeadConfig(d_model=32, num_heads=4)
REL_TOL = 1e-5


def meta_head(config: SegmentationHeadConfig):
    from sam3.model.maskformer_segmentation import PixelDecoder, UniversalSegmentationHead
    from sam3.model.model_misc import MultiheadAttentionWrapper

    pixel_decoder = PixelDecoder(
        num_upsampling_stages=config.upsampling_stages,
        interpolation_mode="nearest",
        hidden_dim=config.d_model,
    )
    cross_attend_prompt = MultiheadAttentionWrapper(
        num_heads=config.num_heads, dropout=0, embed_dim=config.d_model
    )
    return UniversalSegmentationHead(
        hidden_dim=config.d_model,
        upsampling_stages=config.upsampling_stages,
        aux_masks=False,
        presence_head=False,
        dot_product_scorer=None,
        act_ckpt=False,
        cross_attend_prompt=cross_attend_prompt,
        pixel_decoder=pixel_decoder,
    ).eval()


def head_inputs(images: int, levels: int, seed: int = 0) -> dict:
    """Two prompts of different lengths (the shorter one padded) over `images` images, finest FPN
    level 4 g (g = 3, levels halving), the decoder's output in two layers; batch-first."""
    gen = torch.Generator().manual_seed(seed)
    d, g, queries, tokens = MINI.d_model, 3, 5, 6
    sides = [g * 2 ** (levels - 1 - i) for i in range(levels)]
    prompt_padding = torch.zeros(2, tokens, dtype=torch.bool)
    prompt_padding[1, 4:] = True
    return {
        "fpn": [torch.randn(images, d, s, s, generator=gen) for s in sides],
        "encoder_tokens": torch.randn(2, g * g, d, generator=gen),
        "decoder_layers": torch.randn(2, 2, queries, d, generator=gen),
        "prompt": torch.randn(2, tokens, d, generator=gen),
        "prompt_padding": prompt_padding,
        "image_ids": torch.tensor([images - 1, 0]),
    }


def relative_diff(ours: torch.Tensor, meta: torch.Tensor) -> float:
    assert ours.shape == meta.shape
    return ((ours - meta).abs().max() / meta.abs().max()).item()


@pytest.mark.parametrize(
    ("images", "levels"),
    [(2, 3), (1, 3), (2, 4)],  # per-prompt images; one image broadcast; every decoder stage
)
def test_the_head_equals_metas_universal_segmentation_head(images, levels):
    meta = randomize_(meta_head(MINI), seed=1, scale=0.3)
    ours = SegmentationHead(MINI).eval()
    ours.load_state_dict(meta.state_dict(), strict=True)
    x = head_inputs(images, levels)
    with torch.no_grad():
        expected = meta(
            backbone_feats=x["fpn"],
            obj_queries=x["decoder_layers"],
            image_ids=x["image_ids"],
            encoder_hidden_states=x["encoder_tokens"].transpose(0, 1),
            prompt=x["prompt"].transpose(0, 1),
            prompt_mask=x["prompt_padding"],
        )
        got = ours(
            x["fpn"],
            x["encoder_tokens"],
            x["decoder_layers"][-1],
            x["prompt"],
            x["prompt_padding"],
            x["image_ids"],
        )
    side = x["fpn"][0].shape[-1]
    assert got.masks.shape == (2, 5, side, side)
    assert expected["presence_logit"] is None
    mask_diff = relative_diff(got.masks, expected["pred_masks"])
    semantic_diff = relative_diff(got.semantic, expected["semantic_seg"])
    print(
        f"images={images} levels={levels}: max rel diff masks {mask_diff:.2e}, "
        f"semantic {semantic_diff:.2e}"
    )
    assert mask_diff <= REL_TOL and semantic_diff <= REL_TOL


def test_padded_prompt_tokens_do_not_reach_the_masks():
    ours = randomize_(SegmentationHead(MINI), seed=1, scale=0.3).eval()
    x = head_inputs(2, 3)
    changed = x["prompt"].clone()
    changed[1, 4:] += 5.0  # the padded tokens of the second prompt
    with torch.no_grad():
        args = (x["fpn"], x["encoder_tokens"], x["decoder_layers"][-1])
        before = ours(*args, x["prompt"], x["prompt_padding"], x["image_ids"])
        after = ours(*args, changed, x["prompt_padding"], x["image_ids"])
    torch.testing.assert_close(after.masks, before.masks, rtol=0, atol=0)


def test_full_size_keys_and_shapes_equal_metas():
    from sam3.model_builder import _create_segmentation_head

    meta_state = _create_segmentation_head().state_dict()
    ours = SegmentationHead()
    assert [(k, tuple(v.shape)) for k, v in ours.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in meta_state.items()
    ]
    ours.load_state_dict(meta_state, strict=True)
