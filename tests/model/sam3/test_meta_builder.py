"""The full-size SAM 3 variant against what Meta's sam3 model_builder builds (the arguments its
ViT and neck are made with, the ViT attention's RoPE default), and which keys of a file the
model carries: only detector / video-memory tensors, never a stray key under what it computes."""

import importlib.util
import inspect

import pytest
import torch

from samhq_train.model import load_checkpoint
from samhq_train.model.formats import CheckpointError
from samhq_train.model.sam3 import VARIANTS, build
from samhq_train.model.sam3.carried import carry

HAVE_SAM3 = importlib.util.find_spec("sam3") is not None


@pytest.mark.skipif(
    not HAVE_SAM3, reason="Meta's sam3 package is not installed (pip install sam3==0.1.4 --no-deps)"
)
def test_full_size_variant_is_metas_builder(monkeypatch):
    import sam3.model_builder as builder
    from sam3.model.vitdet import Attention

    seen = {}
    monkeypatch.setattr(builder, "ViT", lambda **kw: seen.setdefault("vit", kw))
    monkeypatch.setattr(builder, "Sam3DualViTDetNeck", lambda **kw: seen.setdefault("neck", kw))
    builder._create_vit_backbone()
    builder._create_vit_neck(position_encoding=None, vit_backbone=None)
    cfg = VARIANTS["sam3_hq"]
    vit, meta = cfg.vit, seen["vit"]
    fields = (
        "img_size",
        "pretrain_img_size",
        "patch_size",
        "embed_dim",
        "depth",
        "num_heads",
        "mlp_ratio",
        "window_size",
    )
    assert {f: getattr(vit, f) for f in fields} == {f: meta[f] for f in fields}
    assert tuple(vit.global_att_blocks) == tuple(meta["global_att_blocks"])
    assert meta["use_rope"] and "rope_theta" not in meta  # the attention's default theta
    assert vit.rope_theta == inspect.signature(Attention).parameters["rope_theta"].default
    assert cfg.d_model == seen["neck"]["d_model"]
    assert list(cfg.neck_scale_factors) == list(seen["neck"]["scale_factors"])


@pytest.mark.parametrize(
    "extra",
    [
        "tracker.sam_mask_decoder.extra_head.weight",
        "detector.backbone.vision_backbone.trunk.blocks.0.attn.bias",
    ],
)
def test_a_stray_key_under_what_the_model_computes_is_refused(tmp_path, meta_fixture, extra):
    """Carried are the detector's and the tracker's other tensors; an unknown key under a
    computed module is an error naming it, not a silently adopted buffer."""
    state = dict(meta_fixture["state_dict"])
    state[extra] = torch.zeros(3)
    path = tmp_path / "stray.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="unexpected keys") as err:
        load_checkpoint(path)
    assert extra in str(err.value)


def test_carry_refuses_a_tensor_the_model_computes():
    model = build(VARIANTS["sam3_hq_demo"])
    for key in (
        "tracker.no_mem_embed",
        "tracker.sam_mask_decoder.iou_token",
        "tracker.maskmem_tpos_enc",
        "tracker.transformer.encoder",
    ):
        with pytest.raises(ValueError, match="computes it"):
            carry(model, key, torch.zeros(1))
    key = "detector.transformer.encoder.norm.weight"  # a new path: containers made
    carry(model, key, torch.ones(2))
    assert torch.equal(model.state_dict()[key], torch.ones(2))
