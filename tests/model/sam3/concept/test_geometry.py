"""SAM 3's geometry (exemplar) encoder against Meta's SequenceGeometryEncoder built as
model_builder._create_geometry_encoder builds it, at a miniature size with randomised weights:
text-only (Meta's dummy prompt), boxes, points, and both, with right-padded prompts of different
lengths in one batch (rows with no valid box or no valid point too)."""

import pytest
import torch
from torch import nn

from samhq_train.model.sam3.concept.geometry import (
    ExemplarPrompt,
    GeometryEncoder,
    GeometryEncoderConfig,
)
from tests.reference import randomize_

pytest.importorskip("sam3")
from sam3.model.encoder import TransformerEncoderLayer  # noqa: E402
from sam3.model.geometry_encoders import Prompt, SequenceGeometryEncoder  # noqa: E402
from sam3.model.model_misc import MultiheadAttentionWrapper  # noqa: E402
from sam3.model.position_encoding import PositionEmbeddingSine  # noqa: E402

MINI = GeometryEncoderConfig(d_model=32, num_heads=4, dim_feedforward=48, num_layers=2, roi_size=3)
BATCH, HEIGHT, WIDTH = 3, 6, 8


def meta_encoder(cfg: GeometryEncoderConfig) -> nn.Module:
    def attention() -> nn.Module:
        return MultiheadAttentionWrapper(
            num_heads=cfg.num_heads, dropout=0.1, embed_dim=cfg.d_model, batch_first=False
        )

    layer = TransformerEncoderLayer(
        activation="relu", d_model=cfg.d_model, dim_feedforward=cfg.dim_feedforward,
        dropout=0.1, pos_enc_at_attn=False, pre_norm=True, self_attention=attention(),
        pos_enc_at_cross_attn_queries=False, pos_enc_at_cross_attn_keys=True,
        cross_attention=attention(),
    )
    return SequenceGeometryEncoder(
        pos_enc=PositionEmbeddingSine(num_pos_feats=cfg.d_model, normalize=True),
        encode_boxes_as_points=False, points_direct_project=True, points_pool=True,
        points_pos_enc=True, boxes_direct_project=True, boxes_pool=True, boxes_pos_enc=True,
        d_model=cfg.d_model, num_layers=cfg.num_layers, layer=layer, roi_size=cfg.roi_size,
        use_act_ckpt=True, add_cls=True, add_post_encode_proj=True,
    )


@pytest.fixture(autouse=True)
def cpu_pin_memory(monkeypatch):
    """Meta's box pooling pins its scale tensor (a CUDA call); on a CPU-only run pinning is the
    identity (the package itself is not edited)."""
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda self, *args, **kwargs: self)


@pytest.fixture(scope="module")
def twins():
    meta = randomize_(meta_encoder(MINI), seed=5, scale=0.3).eval()
    ours = GeometryEncoder(MINI).eval()
    ours.load_state_dict(meta.state_dict(), strict=True)
    return meta, ours


def padding_of(lengths: list[int], size: int) -> torch.Tensor:
    return torch.arange(size)[None] >= torch.tensor(lengths)[:, None]


def exemplars(gen, box_lengths, point_lengths):
    """Random boxes (cxcywh inside the image) and points with mixed labels; padded entries hold
    random values too, so a leak would show."""
    nb, np_ = max(box_lengths, default=0), max(point_lengths, default=0)
    centre = torch.rand(BATCH, nb, 2, generator=gen) * 0.6 + 0.2
    size = torch.rand(BATCH, nb, 2, generator=gen) * 0.35 + 0.05
    return ExemplarPrompt(
        boxes=torch.cat((centre, size), dim=-1),
        box_labels=torch.randint(0, 2, (BATCH, nb), generator=gen),
        box_padding=padding_of(box_lengths, nb) if nb else torch.zeros(BATCH, 0, dtype=bool),
        points=torch.rand(BATCH, np_, 2, generator=gen),
        point_labels=torch.randint(0, 2, (BATCH, np_), generator=gen),
        point_padding=padding_of(point_lengths, np_) if np_ else torch.zeros(BATCH, 0, dtype=bool),
    )


def meta_prompt(p: ExemplarPrompt) -> Prompt:
    """Meta's layout: coordinates and labels sequence-first, padding batch-first."""
    return Prompt(
        box_embeddings=p.boxes.transpose(0, 1), box_mask=p.box_padding,
        box_labels=p.box_labels.transpose(0, 1), point_embeddings=p.points.transpose(0, 1),
        point_mask=p.point_padding, point_labels=p.point_labels.transpose(0, 1),
    )


def run_both(twins, prompt: ExemplarPrompt, meta_geo: Prompt, seed: int):
    meta, ours = twins
    gen = torch.Generator().manual_seed(seed)
    feats = torch.randn(BATCH, MINI.d_model, HEIGHT, WIDTH, generator=gen)
    pos = torch.randn(BATCH, MINI.d_model, HEIGHT, WIDTH, generator=gen)
    with torch.no_grad():
        want, want_pad = meta(
            geo_prompt=meta_geo, img_feats=[feats.flatten(2).permute(2, 0, 1)],
            img_sizes=[(HEIGHT, WIDTH)], img_pos_embeds=[pos.flatten(2).permute(2, 0, 1)],
        )
        got, got_pad = ours(prompt, feats, pos)
    want = want.transpose(0, 1)
    assert got.shape == want.shape and torch.equal(got_pad, want_pad)
    err = ((got - want).abs().max() / want.abs().max()).item()
    return got, got_pad, err


def test_text_only_prompt_is_the_cls_token_refined(twins):
    meta_dummy = Prompt(
        box_embeddings=torch.zeros(0, BATCH, 4), box_mask=torch.zeros(BATCH, 0, dtype=torch.bool)
    )  # Sam3Image._get_dummy_prompt
    got, padding, err = run_both(twins, ExemplarPrompt.of(BATCH), meta_dummy, seed=1)
    print(f"text-only: max rel diff {err:.2e}")
    assert got.shape == (BATCH, 1, MINI.d_model) and not padding.any()
    assert err <= 1e-5


@pytest.mark.parametrize(
    "box_lengths, point_lengths",
    [([2, 1, 3], []), ([], [1, 4, 2]), ([2, 0, 3], [1, 2, 0]), ([1, 1, 1], [3, 3, 3])],
    ids=["boxes", "points", "both-padded", "both-full"],
)
def test_exemplar_tokens_equal_metas(twins, box_lengths, point_lengths):
    gen = torch.Generator().manual_seed(len(box_lengths) * 10 + len(point_lengths))
    prompt = exemplars(gen, box_lengths, point_lengths)
    got, padding, err = run_both(twins, prompt, meta_prompt(prompt), seed=2)
    valid = [b + p + 1 for b, p in zip(box_lengths or [0] * BATCH, point_lengths or [0] * BATCH)]
    assert (~padding).sum(dim=1).tolist() == valid
    print(f"{box_lengths} boxes, {point_lengths} points: max rel diff {err:.2e}")
    assert err <= 1e-5


def test_full_size_keys_and_shapes_equal_metas():
    from sam3.model_builder import _create_geometry_encoder

    theirs = {k: v.shape for k, v in _create_geometry_encoder().state_dict().items()}
    ours = {k: v.shape for k, v in GeometryEncoder().state_dict().items()}
    assert ours == theirs


def test_boxes_only_prompt_defaults_equal_metas(twins):
    """ExemplarPrompt.of with boxes alone (labels positive, no points) is Meta's Prompt with
    box_embeddings and box_mask alone, what Sam3Image.forward builds from find_input."""
    gen = torch.Generator().manual_seed(7)
    boxes = exemplars(gen, [2, 1, 2], []).boxes
    padding = padding_of([2, 1, 2], 2)
    meta_geo = Prompt(box_embeddings=boxes.transpose(0, 1), box_mask=padding)
    got, _, err = run_both(twins, ExemplarPrompt.of(BATCH, boxes=boxes, box_padding=padding),
                           meta_geo, seed=3)
    print(f"boxes via ExemplarPrompt.of: max rel diff {err:.2e}")
    assert got.shape == (BATCH, 3, MINI.d_model) and err <= 1e-5


def test_left_padded_prompt_is_refused():
    boxes = torch.rand(1, 2, 4)
    with pytest.raises(ValueError, match="right-padded"):
        ExemplarPrompt.of(1, boxes=boxes, box_padding=torch.tensor([[True, False]]))


def test_full_size_tokens_equal_metas_on_a_72_by_72_map():
    """Meta's builder (d 256, 3 layers, 7 x 7 ROI) at the 1008-pixel image's 72 x 72 feature map,
    randomised weights, a padded box + point prompt."""
    from sam3.model_builder import _create_geometry_encoder

    meta = randomize_(_create_geometry_encoder(), seed=11, scale=0.05).eval()
    ours = GeometryEncoder().eval()
    ours.load_state_dict(meta.state_dict(), strict=True)
    gen = torch.Generator().manual_seed(4)
    prompt = exemplars(gen, [1, 3, 2], [2, 0, 1])
    feats = torch.randn(BATCH, 256, 72, 72, generator=gen)
    pos = torch.randn(BATCH, 256, 72, 72, generator=gen)
    with torch.no_grad():
        want, want_pad = meta(
            geo_prompt=meta_prompt(prompt), img_feats=[feats.flatten(2).permute(2, 0, 1)],
            img_sizes=[(72, 72)], img_pos_embeds=[pos.flatten(2).permute(2, 0, 1)],
        )
        got, got_pad = ours(prompt, feats, pos)
    want = want.transpose(0, 1)
    err = ((got - want).abs().max() / want.abs().max()).item()
    print(f"full size, 72 x 72: max rel diff {err:.2e}")
    assert torch.equal(got_pad, want_pad) and err <= 1e-5
