"""The SAM 2.1 family's format rules: HQ keys, official layout, variant detection, strict
loading and bit-exact round trips, parameter counts of the four sizes."""

import pytest
import torch

from samhq_train.model.sam2 import META_VARIANTS, VARIANTS, build
from samhq_train.model.sam2.family import (
    HQ_MODULES,
    detect_variant,
    official_layout,
    owns_state,
)

from .official import config_from_official, is_hq_key, load_official_state

HQ_KEYS = {
    "sam_mask_decoder.hf_token.weight",
    *(f"sam_mask_decoder.hf_mlp.layers.{i}.{p}" for i in range(3) for p in ("weight", "bias")),
    *(f"sam_mask_decoder.embedding_maskfeature.{i}.{p}" for i in (0, 1, 3) for p in ("weight", "bias")),
}

# parameters (the state dict also holds the 2 x 128 random-Fourier buffer) and the HQ part; Meta
# publishes 38.9 / 46 / 80.8 / 224.4 M for SAM 2.1 (no HQ parts)
PARAMS = {
    "sam2.1_hq_hiera_t": (39_139_650, 38.9, 484),
    "sam2.1_hq_hiera_s": (46_237_506, 46.0, 532),
    "sam2.1_hq_hiera_b+": (81_027_330, 80.8, 628),
    "sam2.1_hq_hiera_l": (224_623_794, 224.4, 916),
}
HQ_PARAMS = 177_152  # hf_token 256 + hf_mlp 139_808 + embedding_maskfeature 37_088


@pytest.fixture(scope="module")
def meta_device_models():
    with torch.device("meta"):
        return {name: build(cfg) for name, cfg in VARIANTS.items()}


def test_hq_keys_of_the_miniature(hq_fixture, meta_fixture):
    state = hq_fixture["state_dict"]
    assert HQ_MODULES == ("hf_token", "hf_mlp", "embedding_maskfeature")
    assert {k for k in state if is_hq_key(k)} == HQ_KEYS
    assert len(state) == 332 and len(meta_fixture["state_dict"]) == 319
    assert set(meta_fixture["state_dict"]) == set(state) - HQ_KEYS
    assert is_hq_key("model.sam_mask_decoder.hf_mlp.layers.0.weight")  # any outer prefix
    assert not is_hq_key("sam_mask_decoder.mask_tokens.weight")


def test_state_dict_has_the_official_keys_in_order(hq_fixture):
    model = build(config_from_official(hq_fixture["config"]))
    own = model.state_dict()
    assert list(own) == list(hq_fixture["state_dict"])
    assert {k: tuple(v.shape) for k, v in own.items()} == {
        k: tuple(v.shape) for k, v in hq_fixture["state_dict"].items()
    }


def test_round_trip_is_bit_exact(hq_model, hq_fixture, tmp_path):
    path = tmp_path / "sam2.1_hq_mini.pt"
    torch.save(official_layout(hq_model.state_dict()), path)
    state = torch.load(path, weights_only=True)["model"]
    fresh = build(config_from_official(hq_fixture["config"]))
    fresh.load_state_dict(state, strict=True)
    reference = hq_fixture["state_dict"]
    saved = fresh.state_dict()
    assert list(saved) == list(reference)
    for key, value in reference.items():
        assert torch.equal(saved[key], value), key


def test_meta_file_loads_with_fresh_hq_parts(meta_fixture):
    model = build(config_from_official(meta_fixture["config"]))
    init = {k: v.clone() for k, v in model.state_dict().items() if is_hq_key(k)}
    load_official_state(model, meta_fixture["state_dict"])
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in init.items())
    assert all(torch.equal(state[k], v) for k, v in meta_fixture["state_dict"].items())


def test_owns_state_tells_the_key_names(hq_fixture):
    state = hq_fixture["state_dict"]
    hq_only = {k: v for k, v in state.items() if is_hq_key(k)}
    assert owns_state(state) and owns_state(hq_only)
    sam1_like = {"image_encoder.patch_embed.proj.weight": torch.zeros(1), "mask_decoder.hf_token.weight": torch.zeros(1)}
    assert not owns_state(sam1_like)


def test_detect_variant(hq_fixture, meta_fixture, meta_device_models):
    for name, model in meta_device_models.items():
        assert detect_variant(model.state_dict()) == name
    mini = config_from_official(hq_fixture["config"])
    # the miniature is the registry's demo variant (same shapes)
    assert detect_variant(hq_fixture["state_dict"]) == "sam2.1_hq_hiera_demo"
    sizes = {k: v for k, v in VARIANTS.items() if not k.endswith("demo")}
    assert detect_variant(hq_fixture["state_dict"], sizes) is None  # not one of the four sizes
    assert detect_variant(hq_fixture["state_dict"], {"mini": mini, **sizes}) == "mini"
    assert detect_variant(meta_fixture["state_dict"], {"mini": mini}) == "mini"
    hq_only = {k: v for k, v in hq_fixture["state_dict"].items() if is_hq_key(k)}
    assert detect_variant(hq_only) is None
    assert detect_variant({"image_encoder.patch_embed.proj.weight": torch.zeros(768, 3, 16, 16)}) is None
    no_obj = {k: v for k, v in hq_fixture["state_dict"].items() if "obj_score_token" not in k}
    with pytest.raises(ValueError, match=r"no sam_mask_decoder\.obj_score_token\.weight"):
        detect_variant(no_obj, {"mini": mini})


@pytest.mark.parametrize("name", list(PARAMS))
def test_parameter_counts(name, meta_device_models):
    model = meta_device_models[name]
    total, meta_published, n_keys = PARAMS[name]
    params = dict(model.named_parameters())
    assert sum(p.numel() for p in params.values()) == total
    hq = sum(p.numel() for k, p in params.items() if is_hq_key(k))
    assert hq == HQ_PARAMS
    sam21 = (total - hq) / 1e6
    assert meta_published <= sam21 < meta_published + 0.1  # Meta's figure, rounded down
    state = model.state_dict()
    assert len(state) == n_keys
    assert sum(is_hq_key(k) for k in state) == len(HQ_KEYS)


@pytest.mark.parametrize("name", list(PARAMS))
def test_full_size_shapes_on_the_meta_device(name, meta_device_models):
    """The 1024 px plumbing of each size (windows, pooling, FPN levels), without computing."""
    model = meta_device_models[name].eval()
    with torch.device("meta"):
        features = model.encode(torch.zeros(2, 3, 1024, 1024))
        masks, iou = model.decode(features, boxes=torch.zeros(2, 3, 4), multimask_output=True)
    assert [tuple(t.shape) for t in features.tensors().values()] == [
        (2, 256, 64, 64), (2, 32, 256, 256), (2, 64, 128, 128)
    ]
    assert masks.shape == (2, 3, 3, 256, 256) and iou.shape == (2, 3, 3)
    assert model.image_size == 1024 and model.mask_input_size == 256


def test_meta_names_map_to_variants():
    assert set(META_VARIANTS.values()) == set(VARIANTS) - {"sam2.1_hq_hiera_demo"}
    assert META_VARIANTS["sam2.1_hiera_base_plus"] == "sam2.1_hq_hiera_b+"
