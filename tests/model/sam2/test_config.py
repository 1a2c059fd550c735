"""Sam2Config: the official-config reader (fixture's config dict) and the four SAM 2.1 sizes."""

import copy
import dataclasses

import pytest

from samhq_train.model.sam2 import (
    VARIANTS,
    DecoderConfig,
    HieraConfig,
    MemoryConfig,
    NeckConfig,
    Sam2Config,
    TrackingConfig,
)

from .conftest import HQ_FIXTURE, load_fixture
from .official import config_from_official


def test_from_official_reads_the_fixture_config(hq_fixture):
    cfg = config_from_official(hq_fixture["config"])
    assert cfg == Sam2Config(
        trunk=HieraConfig(
            embed_dim=24, num_heads=1, stages=(1, 1, 3, 1), global_att_blocks=(3,),
            window_pos_embed_bkg_spatial_size=(7, 7), window_spec=(8, 4, 14, 7),
        ),
        neck=NeckConfig(
            backbone_channel_list=(192, 96, 48, 24), d_model=64, fpn_top_down_levels=(2, 3),
            fpn_interp_model="nearest", num_pos_feats=64, scalp=1,
        ),
        decoder=DecoderConfig(dynamic_multimask_via_stability=False),
        memory=MemoryConfig(
            attention_layers=1, attention_dim_feedforward=128, attention_kv_in_dim=64,
            encoder_in_dim=64, downsampler_embed_dim=64, fuser_dim=64,
        ),
        # the yaml's video settings are SAM 2.1's; binarizing is the video predictor builder's
        tracking=TrackingConfig(binarize_mask_from_pts_for_mem_enc=False),
        image_size=256,
    )
    assert cfg.d_model == 64
    assert config_from_official({"model": hq_fixture["config"]}) == cfg  # a whole yaml


def test_decoder_extra_args_are_read(hq_fixture):
    config = copy.deepcopy(hq_fixture["config"])
    config["sam_mask_decoder_extra_args"] = {
        "dynamic_multimask_via_stability": True,
        "dynamic_multimask_stability_delta": 0.1,
        "dynamic_multimask_stability_thresh": 0.9,
    }
    decoder = config_from_official(config).decoder
    assert decoder.dynamic_multimask_via_stability
    assert (decoder.dynamic_multimask_stability_delta, decoder.dynamic_multimask_stability_thresh) == (0.1, 0.9)


@pytest.mark.parametrize(
    ("path", "value", "named"),
    [
        ("image_encoder.trunk.embed_dim", 32, "image_encoder.neck.backbone_channel_list"),
        ("image_encoder.neck.backbone_channel_list", [192, 96, 48], "image_encoder.neck.backbone_channel_list"),
        ("memory_attention.d_model", 128, "memory_attention.d_model"),
        ("memory_attention.layer.cross_attention.embedding_dim", 32, "memory_attention.layer.cross_attention.embedding_dim"),
        ("memory_encoder.in_dim", 128, "memory_encoder.in_dim"),
        ("memory_encoder.fuser.layer.dim", 128, "memory_encoder.fuser.layer.dim"),
    ],
)
def test_mismatched_widths_name_the_key(hq_fixture, path, value, named):
    config = copy.deepcopy(hq_fixture["config"])
    node = config
    *parents, leaf = path.split(".")
    for part in parents:
        node = node[part]
    node[leaf] = value
    with pytest.raises(ValueError, match=named.replace(".", r"\.")) as err:
        config_from_official(config)
    assert "\n" not in str(err.value)


def test_a_config_without_trunk_is_refused():
    with pytest.raises(ValueError, match="image_encoder.trunk"):
        config_from_official({"model": {"image_size": 1024}})


def test_variants_are_the_official_sizes():
    sizes = ["sam2.1_hq_hiera_t", "sam2.1_hq_hiera_s", "sam2.1_hq_hiera_b+", "sam2.1_hq_hiera_l"]
    assert list(VARIANTS) == [*sizes, "sam2.1_hq_hiera_demo"]
    expected = {  # embed_dim, heads, stages, global blocks, bkg, window_spec, neck channels
        "sam2.1_hq_hiera_t": (96, 1, (1, 2, 7, 2), (5, 7, 9), (7, 7), (8, 4, 14, 7), (768, 384, 192, 96)),
        "sam2.1_hq_hiera_s": (96, 1, (1, 2, 11, 2), (7, 10, 13), (7, 7), (8, 4, 14, 7), (768, 384, 192, 96)),
        "sam2.1_hq_hiera_b+": (112, 2, (2, 3, 16, 3), (12, 16, 20), (14, 14), (8, 4, 14, 7), (896, 448, 224, 112)),
        "sam2.1_hq_hiera_l": (144, 2, (2, 6, 36, 4), (23, 33, 43), (7, 7), (8, 4, 16, 8), (1152, 576, 288, 144)),
    }
    demo = config_from_official(load_fixture(HQ_FIXTURE)["config"])  # the fixtures' miniature
    assert (VARIANTS["sam2.1_hq_hiera_demo"].trunk, VARIANTS["sam2.1_hq_hiera_demo"].neck) == (demo.trunk, demo.neck)
    for name in sizes:
        cfg = VARIANTS[name]
        t = cfg.trunk
        got = (t.embed_dim, t.num_heads, t.stages, t.global_att_blocks,
               t.window_pos_embed_bkg_spatial_size, t.window_spec, cfg.neck.backbone_channel_list)
        assert got == expected[name], name
        assert (cfg.image_size, cfg.d_model, cfg.neck.scalp, cfg.neck.fpn_top_down_levels) == (1024, 256, 1, (2, 3))
        assert cfg.decoder.dynamic_multimask_via_stability  # as official inference builds it
        with pytest.raises(dataclasses.FrozenInstanceError):
            cfg.image_size = 512
