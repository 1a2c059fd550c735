"""The detector's neck of SAM 3's vision backbone (VisionBackbone with detector_neck=True:
`convs` beside the sam2 neck, and the sine position encodings) against Meta's Sam3DualViTDetNeck
with the miniature's ViT (every parameter drawn; same weights loaded strict) after
SAM3VLBackbone's scalp 1; the interactive path's module and outputs unchanged without it."""

import pytest
import torch

from samhq_train.model.sam3 import build
from samhq_train.model.sam3.image_encoder import VisionBackbone
from samhq_train.model.sam3.model import CARRIED_BUFFER_SUFFIX

pytest.importorskip("sam3")

REL_TOL = 1e-5
SCALP = 1


def draw_parameters_(module: torch.nn.Module, seed: int, scale: float = 0.1) -> None:
    """Every parameter drawn (1-D weights, the norms', around 1); buffers (Meta's RoPE
    frequencies) kept."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(module.named_parameters()):
            noise = torch.randn(p.shape, generator=gen) * scale
            p.copy_(noise + 1.0 if name.endswith("weight") and p.dim() == 1 else noise)


def mini_config():
    from ..meta_reference import VARIANT, VARIANTS

    return VARIANTS[VARIANT]


def ours_and_metas(detector_neck: bool = True):
    from ..meta_reference import vision_neck

    cfg = mini_config()
    meta = vision_neck(cfg).eval()
    draw_parameters_(meta, seed=3)
    trunk = build(cfg).image_encoder.trunk
    ours = VisionBackbone(
        trunk=trunk,
        d_model=cfg.d_model,
        scale_factors=cfg.neck_scale_factors,
        detector_neck=detector_neck,
    ).eval()
    state = {k: v for k, v in meta.state_dict().items() if not k.endswith(CARRIED_BUFFER_SUFFIX)}
    if not detector_neck:
        state = {k: v for k, v in state.items() if not k.startswith("convs.")}
    ours.load_state_dict(state, strict=True)
    images = torch.randn(2, 3, cfg.vit.img_size, cfg.vit.img_size, generator=torch.Generator())
    return ours, meta, images


def relative_diff(ours: torch.Tensor, meta: torch.Tensor) -> float:
    assert ours.shape == meta.shape
    return ((ours - meta).abs().max() / meta.abs().max()).item()


def test_forward_dual_equals_metas_dual_neck():
    ours, meta, images = ours_and_metas()
    with torch.no_grad():
        fpn, pos, sam2_fpn, sam2_pos = meta(images)
        got = ours.forward_dual(images)
    expected = {"fpn": fpn[:-SCALP], "pos": pos[:-SCALP], "sam2_fpn": sam2_fpn[:-SCALP]}
    assert got.early is None
    for name, levels in expected.items():
        assert len(getattr(got, name)) == len(levels) == 3
        for level, (ours_level, meta_level) in enumerate(zip(getattr(got, name), levels)):
            diff = relative_diff(ours_level, meta_level)
            print(f"{name}[{level}] {tuple(meta_level.shape)}: max rel diff {diff:.2e}")
            assert diff <= REL_TOL, (name, level)


def test_without_the_detector_neck_the_interactive_path_is_unchanged():
    ours, _, images = ours_and_metas()
    plain, _, _ = ours_and_metas(detector_neck=False)
    assert not plain.has_detector_neck
    assert set(plain.state_dict()) == {k for k in ours.state_dict() if not k.startswith("convs.")}
    assert not any(".convs." in k for k in build(mini_config()).state_dict())
    with torch.no_grad():
        dual = ours.forward_dual(images, early_block=1)
        levels, early = plain(images, early_block=1)
        with_neck = ours(images)  # forward: the sam2 neck whether or not convs exist
    for a, b, c in zip(dual.sam2_fpn, levels, with_neck, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        torch.testing.assert_close(c, b, rtol=0, atol=0)
    torch.testing.assert_close(dual.early, early, rtol=0, atol=0)
    with pytest.raises(RuntimeError, match="detector_neck=True"):
        plain.forward_dual(images)


def test_full_size_necks_keys_shapes_and_order_equal_metas():
    from sam3.model.necks import Sam3DualViTDetNeck
    from sam3.model_builder import _create_position_encoding

    class Width(torch.nn.Module):  # what the necks read of the full-size ViT: its width
        channel_list = [1024]
        pos_embed = torch.empty(1, 1, 1024)

    meta = Sam3DualViTDetNeck(
        trunk=Width(),
        position_encoding=_create_position_encoding(),
        d_model=256,
        scale_factors=[4.0, 2.0, 1.0, 0.5],
        add_sam2_neck=True,
    )
    ours = VisionBackbone(
        trunk=Width(), d_model=256, scale_factors=(4.0, 2.0, 1.0, 0.5), detector_neck=True
    )
    meta_shapes = [(k, tuple(v.shape)) for k, v in meta.state_dict().items()]
    ours_shapes = [(k, tuple(v.shape)) for k, v in ours.state_dict().items()]
    assert ours_shapes == meta_shapes
