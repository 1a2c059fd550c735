"""Both families build their prompt encoder and two-way transformer from the shared modules
(model/prompt_encoder.py, model/two_way_transformer.py), with the official key names, shapes and
order of every variant: segment_anything(_hq) for SAM 1, sam2 / sam-hq2 for SAM 2.1. The expected
layouts below are written out from the official classes, not from ours. The three families'
windowed attention shares one window partition (model/common.py)."""

import pytest
import torch

from samhq_train.model import prompt_encoder as shared_pe
from samhq_train.model import two_way_transformer as shared_twt
from samhq_train.model.common import window_partition, window_unpartition
from samhq_train.model.sam1 import VARIANTS as SAM1_VARIANTS
from samhq_train.model.sam1 import build as build_sam1
from samhq_train.model.sam2 import VARIANTS as SAM2_VARIANTS
from samhq_train.model.sam2 import build as build_sam2


def _official_prompt_encoder(c: int, m: int) -> list[tuple[str, tuple[int, ...]]]:
    keys = [("pe_layer.positional_encoding_gaussian_matrix", (2, c // 2))]
    keys += [(f"point_embeddings.{i}.weight", (1, c)) for i in range(4)]
    keys += [("not_a_point_embed.weight", (1, c))]
    for index, shape in (
        (0, (m // 4, 1, 2, 2)),
        (1, (m // 4,)),
        (3, (m, m // 4, 2, 2)),
        (4, (m,)),
        (6, (c, m, 1, 1)),
    ):
        keys += [
            (f"mask_downscaling.{index}.weight", shape),
            (f"mask_downscaling.{index}.bias", (shape[0],)),
        ]
    return keys + [("no_mask_embed.weight", (1, c))]


def _attention(name: str, c: int, inner: int) -> list[tuple[str, tuple[int, ...]]]:
    keys = []
    for proj in ("q_proj", "k_proj", "v_proj"):
        keys += [(f"{name}.{proj}.weight", (inner, c)), (f"{name}.{proj}.bias", (inner,))]
    return keys + [(f"{name}.out_proj.weight", (c, inner)), (f"{name}.out_proj.bias", (c,))]


def _norm(name: str, c: int) -> list[tuple[str, tuple[int, ...]]]:
    return [(f"{name}.weight", (c,)), (f"{name}.bias", (c,))]


def _official_transformer(depth: int, c: int, hidden: int, mlp: tuple[str, str]):
    keys = []
    for i in range(depth):
        p = f"layers.{i}."
        keys += _attention(p + "self_attn", c, c) + _norm(p + "norm1", c)
        keys += _attention(p + "cross_attn_token_to_image", c, c // 2) + _norm(p + "norm2", c)
        keys += [(f"{p}mlp.{mlp[0]}.weight", (hidden, c)), (f"{p}mlp.{mlp[0]}.bias", (hidden,))]
        keys += [(f"{p}mlp.{mlp[1]}.weight", (c, hidden)), (f"{p}mlp.{mlp[1]}.bias", (c,))]
        keys += _norm(p + "norm3", c) + _norm(p + "norm4", c)
        keys += _attention(p + "cross_attn_image_to_token", c, c // 2)
    return keys + _attention("final_attn_token_to_image", c, c // 2) + _norm("norm_final_attn", c)


def _layout(module: torch.nn.Module) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in module.state_dict().items()]


def assert_shared_with_official_keys(encoder, transformer, *, c, mask_in_chans, depth, mlp_dim, mlp_keys, mlp_modules):
    assert type(encoder) is shared_pe.PromptEncoder
    assert type(transformer) is shared_twt.TwoWayTransformer
    assert _layout(encoder) == _official_prompt_encoder(c, mask_in_chans)
    assert _layout(transformer) == _official_transformer(depth, c, mlp_dim, mlp_keys)
    assert {n for n, _ in transformer.layers[0].mlp.named_modules() if n} == mlp_modules


@pytest.mark.parametrize("variant", sorted(SAM1_VARIANTS))
def test_sam1_uses_the_shared_modules_with_official_keys(variant):
    cfg = SAM1_VARIANTS[variant]
    with torch.device("meta"):
        model = build_sam1(cfg)
    assert_shared_with_official_keys(
        model.prompt_encoder, model.mask_decoder.transformer, c=cfg.prompt_embed_dim,
        mask_in_chans=cfg.mask_in_chans, depth=cfg.decoder_depth, mlp_dim=cfg.decoder_mlp_dim,
        mlp_keys=("lin1", "lin2"), mlp_modules={"lin1", "lin2", "act"},
    )


@pytest.mark.parametrize("variant", sorted(SAM2_VARIANTS))
def test_sam2_uses_the_shared_modules_with_official_keys(variant):
    cfg = SAM2_VARIANTS[variant]
    with torch.device("meta"):
        model = build_sam2(cfg)
    d = cfg.decoder
    assert_shared_with_official_keys(
        model.sam_prompt_encoder, model.sam_mask_decoder.transformer, c=cfg.d_model,
        mask_in_chans=d.mask_in_chans, depth=d.depth, mlp_dim=d.mlp_dim,
        mlp_keys=("layers.0", "layers.1"), mlp_modules={"layers", "layers.0", "layers.1", "act"},
    )


def test_sam2_forward_without_boxes_pads_every_point_set():
    """SAM 2's call (keywords, boxes merged into the points) = SAM 1's call without boxes."""
    encoder = shared_pe.PromptEncoder(
        embed_dim=16, image_embedding_size=(4, 4), input_image_size=(64, 64), mask_in_chans=8
    )
    coords, labels = torch.rand(3, 4, 2) * 64, torch.tensor([[2, 3, 1, 0]] * 3)
    sparse, dense = encoder(points=(coords, labels), masks=None, batch_size=3)
    assert sparse.shape == (3, 5, 16) and dense.shape == (3, 16, 4, 4)
    torch.testing.assert_close(
        sparse[:, -1], encoder.not_a_point_embed.weight.expand(3, -1), rtol=0, atol=0
    )
    sam1_sparse, _ = encoder((coords, labels), None, None)
    torch.testing.assert_close(sparse, sam1_sparse, rtol=0, atol=0)
    empty, dense = encoder(points=None, masks=None, batch_size=2)
    assert empty.shape == (2, 0, 16) and dense.shape == (2, 16, 4, 4)



@pytest.mark.parametrize(("h", "w", "window"), [(4, 6, 2), (5, 7, 3), (2, 3, 4)])
def test_window_partition_pads_with_zeros_and_unpartition_inverts_it(h, w, window):
    x = torch.randn(2, h, w, 3, generator=torch.Generator().manual_seed(0))
    windows, padded = window_partition(x, window)
    hp, wp = -(-h // window) * window, -(-w // window) * window
    assert padded == (hp, wp)
    full = torch.zeros(2, hp, wp, 3)
    full[:, :h, :w] = x
    expected = [  # per image, the windows of the zero-padded map in row-major order
        full[b, i : i + window, j : j + window]
        for b in range(2)
        for i in range(0, hp, window)
        for j in range(0, wp, window)
    ]
    torch.testing.assert_close(windows, torch.stack(expected), rtol=0, atol=0)
    restored = window_unpartition(windows, window, padded, (h, w))
    torch.testing.assert_close(restored, x, rtol=0, atol=0)
