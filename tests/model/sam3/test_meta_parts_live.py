"""SAM 3 parts the predictor parity (test_parity.py) does not reach, each against a reference
with the same weights, fp32:

- a mask prompt at the data pipeline's S/4 size or at S (not the prompt encoder's S/14 * 4) is
  resized as Meta's tracker resizes it (Sam3TrackerBase._forward_sam_heads, live);
- early fusion's early feature is the output of the ViT's first global block (Meta's ViT with
  return_interm_layers, live), and its HQ feature is HQ-SAM 1's (segment_anything_hq's
  MaskDecoderHQ: embedding_encoder(embedding) + compress_vit_feat(first global block's output))
  on the same weights."""

import importlib.util

import pytest
import torch

from samhq_train.model.sam3 import FAMILY, build
from tests.reference import randomize_

from .cases import model_input

HAVE_SAM3 = importlib.util.find_spec("sam3") is not None
needs_sam3 = pytest.mark.skipif(
    not HAVE_SAM3, reason="Meta's sam3 package is not installed (pip install sam3==0.1.4 --no-deps)"
)
ATOL = 1e-5


def our_model(variant: str, state: dict):
    from .meta_reference import VARIANTS

    model = build(VARIANTS[variant]).eval()
    FAMILY.adopt_state(model, state)
    model.load_state_dict(state, strict=False)
    return model


@needs_sam3
@pytest.mark.parametrize("divisor", [4, 1])  # up to S/14 * 4 (the pipeline's S/4), or down
def test_a_pipeline_size_mask_prompt_is_resized_as_metas_tracker(divisor):
    from .cases import make_image
    from .meta_reference import VARIANT, build_meta_mini

    tracker, predictor, state = build_meta_mini(seed=2)
    model = our_model(VARIANT, state)
    image = make_image(seed=2)
    s = model.image_size
    gen = torch.Generator().manual_seed(0)
    # the pipeline's noisy-mask size S/4 (56 here) or a full-size mask (224, antialiased when
    # shrunk), not the decoder's mask input size (64)
    mask = torch.randn(1, 1, s // divisor, s // divisor, generator=gen) * 4
    assert s // divisor != model.mask_input_size
    points = torch.tensor([[[60.0, 50.0], [150.0, 170.0]]])
    labels = torch.tensor([[1, 0]], dtype=torch.int32)
    # the decoder's own logits (before the tracker replaces them by -1024 where it scores no
    # object, which our decode, like Meta's image predictor, does not do)
    decoded = []
    hook = tracker.sam_mask_decoder.register_forward_hook(lambda m, a, o: decoded.append(o[0]))
    with torch.no_grad():
        predictor.set_image(image)
        feats = predictor._features
        tracker._forward_sam_heads(
            backbone_features=feats["image_embed"],
            point_inputs={"point_coords": points, "point_labels": labels},
            mask_inputs=mask,
            high_res_features=feats["high_res_feats"],
            multimask_output=False,
        )
        features = model.encode(model_input(image, s))
        low, _ = model.decode(
            features,
            points=(points[None], labels[None].float()),
            mask_inputs=mask[None],
            multimask_output=False,
            use_hq=False,
        )
        without_mask, _ = model.decode(
            features, points=(points[None], labels[None].float()), use_hq=False
        )
    hook.remove()
    ref = decoded[-1][:, :1]  # multimask_output=False: the first mask
    assert (without_mask[0, 0] - ref).abs().max() > 1e-2  # the mask prompt matters here
    assert (low[0, 0] - ref).abs().max() < ATOL


@needs_sam3
def test_the_early_feature_is_metas_first_global_block_output():
    from .cases import make_image
    from .meta_reference import build_meta_mini

    tracker, predictor, state = build_meta_mini(seed=3)
    model = our_model("sam3_hq_ef_demo", state)
    image = make_image(seed=3)
    trunk = tracker.backbone.vision_backbone.trunk
    trunk.return_interm_layers = True  # every global block's output, first to last
    with torch.no_grad():
        x = predictor._transforms(image)[None]
        meta_outputs = trunk(x)
        early = model.encode(model_input(image, model.image_size)).early
    assert len(meta_outputs) == len(model.image_encoder.trunk.global_att_blocks)
    assert (meta_outputs[0] - meta_outputs[1]).abs().max() > 1e-2  # the blocks differ
    assert (early.permute(0, 3, 1, 2) - meta_outputs[0]).abs().max() < ATOL


def test_the_fused_hq_feature_is_hq_sam1s():
    from segment_anything_hq.modeling import MaskDecoderHQ, TwoWayTransformer

    model = randomize_(build(FAMILY.variants["sam3_hq_ef_demo"]), seed=5, scale=0.1).eval()
    ours = model.sam_mask_decoder
    c = model.sam_prompt_encoder.embed_dim
    vit_dim = model.image_encoder.trunk.pos_embed.shape[-1]
    official = MaskDecoderHQ(
        transformer_dim=c,
        transformer=TwoWayTransformer(depth=2, embedding_dim=c, num_heads=8, mlp_dim=2048),
        vit_dim=vit_dim,
    ).eval()
    for name in ("compress_vit_feat", "embedding_encoder"):  # same names and shapes, strictly
        getattr(official, name).load_state_dict(getattr(ours, name).state_dict(), strict=True)
    gen = torch.Generator().manual_seed(1)
    g = model.sam_prompt_encoder.image_embedding_size[0]
    embedding = torch.randn(2, c, g, g, generator=gen)
    early = torch.randn(2, g, g, vit_dim, generator=gen)  # B x g x g x C_vit, as the ViT's blocks
    with torch.no_grad():
        got = ours.hq_features(embedding, early)
        # official MaskDecoderHQ.forward: interm_embeddings[0].permute(0, 3, 1, 2), then the sum
        ref = official.embedding_encoder(embedding) + official.compress_vit_feat(
            early.permute(0, 3, 1, 2)
        )
    assert got.shape == (2, c // 8, 4 * g, 4 * g)
    assert (got - ref).abs().max() < 1e-5


@needs_sam3
def test_every_blocks_rope_rotation_is_metas():
    """The rotation angles of every ViT block (window blocks on their window, global blocks on the
    grid interpolated to the window's scale) equal Meta's freqs_cis: on the miniature as Meta's
    ViT builds it, and on the full-size model's first window and global block."""
    from sam3.model.vitdet import Attention as MetaAttention

    from samhq_train.model.sam3.vit import Block

    from .meta_reference import VARIANT, VARIANTS, build_meta_mini

    tracker, _, state = build_meta_mini(seed=4)
    model = our_model(VARIANT, state)
    meta_blocks = tracker.backbone.vision_backbone.trunk.blocks
    for ours, meta in zip(model.image_encoder.trunk.blocks, meta_blocks, strict=True):
        cis = meta.attn.freqs_cis
        assert (ours.attn.rope_cos - cis.real).abs().max() < 1e-6
        assert (ours.attn.rope_sin - cis.imag).abs().max() < 1e-6
    vit = VARIANTS["sam3_hq"].vit
    for index in (0, vit.global_att_blocks[0]):
        window = 0 if index in vit.global_att_blocks else vit.window_size
        ours = Block(
            vit.embed_dim, num_heads=vit.num_heads, mlp_dim=8, window=window, grid=vit.grid,
            rope_theta=vit.rope_theta, rope_window=vit.window_size,
        )
        side = window or vit.grid  # as Meta's ViT and Block pass them (vitdet.py)
        meta = MetaAttention(
            vit.embed_dim, num_heads=vit.num_heads, input_size=(side, side), use_rope=True,
            rope_pt_size=(vit.window_size, vit.window_size), rope_interp=True,
        )
        assert ours.attn.rope_cos.shape == meta.freqs_cis.shape == (side * side, 32)
        assert (ours.attn.rope_cos - meta.freqs_cis.real).abs().max() < 1e-5
        assert (ours.attn.rope_sin - meta.freqs_cis.imag).abs().max() < 1e-5


@needs_sam3
def test_the_input_rule_is_metas_predictor_transform():
    """SAM 3's resize (the 1008 squash, here 224: antialiased bilinear on 0-1 floats) and its
    normalisation (x - 127.5) / 127.5 give what SAM3InteractiveImagePredictor feeds its backbone."""
    from .meta_reference import VARIANT, build_meta_mini

    _, predictor, state = build_meta_mini(seed=0)
    model = our_model(VARIANT, state)
    # larger than the square on both sides: the resize shrinks, where antialiasing acts
    image = (torch.rand(300, 410, 3, generator=torch.Generator().manual_seed(5)) * 255)
    image = image.to(torch.uint8).numpy()
    resized = model.processing.resize_image(image)
    assert resized.shape == (model.image_size, model.image_size, 3)
    x = model.preprocess(torch.from_numpy(resized).permute(2, 0, 1)[None].float())
    assert (x - predictor._transforms(image)[None]).abs().max() < 1e-5


@needs_sam3
def test_drop_path_in_training_is_metas_vit():
    """drop_path_rate on SAM 3's ViT (video fine-tuning's video.drop_path_rate) against Meta's
    ViT built with that rate (timm's DropPath at linspace(0, rate, depth)), in training mode
    under the same seed: the same blocks dropped, the same output; eval mode unchanged."""
    from timm.layers import DropPath

    from .cases import make_image
    from .meta_reference import build_meta_mini

    rate = 0.5
    tracker, predictor, state = build_meta_mini(seed=3)
    model = our_model("sam3_hq_demo", state)
    meta_trunk, trunk = tracker.backbone.vision_backbone.trunk, model.image_encoder.trunk
    for block, p in zip(meta_trunk.blocks, torch.linspace(0, rate, len(meta_trunk.blocks))):
        block.drop_path = DropPath(p.item()) if p > 0 else torch.nn.Identity()
    trunk.set_drop_path_rate(rate)
    x = predictor._transforms(make_image(seed=3))[None].repeat(4, 1, 1, 1)
    with torch.no_grad():
        plain = trunk(x)
        meta_trunk.train(), trunk.train()
        torch.manual_seed(7)
        theirs = meta_trunk(x)[-1]
        torch.manual_seed(7)
        ours = trunk(x)
        meta_trunk.eval(), trunk.eval()
        assert (trunk(x) - plain).abs().max() == 0  # eval: no drop-path
    assert (ours - plain).abs().max() > 1e-2  # some blocks were dropped
    assert (ours - theirs).abs().max() < ATOL
