"""The SAM 2.1 family through the project's generic checkpoint I/O (registry + checkpoints)."""

import pytest
import torch

from samhq_train.model import (
    CheckpointError,
    build_sam_hq,
    hq_state_dict,
    load_weights_into,
    read_state_dict,
    save_checkpoint,
)
from samhq_train.model.sam2 import build

from .conftest import HQ_FIXTURE, load_fixture
from .official import config_from_official


@pytest.fixture(scope="module")
def official_file(tmp_path_factory):
    fixture = load_fixture(HQ_FIXTURE)
    path = tmp_path_factory.mktemp("sam2") / "sam2.1_hq_hiera_mini.pt"
    torch.save({"model": fixture["state_dict"]}, path)
    return path, fixture


def test_official_hq_sam2_file_is_read_as_sam_hq_and_loads_strictly(official_file):
    path, fixture = official_file
    state, format = read_state_dict(path)
    assert format == "sam_hq" and len(state) == 332
    model = build(config_from_official(fixture["config"]))
    load_weights_into(model, path)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in fixture["state_dict"].items())
    assert set(hq_state_dict(state)) == {k for k in state if k.startswith(
        ("sam_mask_decoder.hf_token.", "sam_mask_decoder.hf_mlp.", "sam_mask_decoder.embedding_maskfeature."))}


def test_meta_file_without_hq_keys_is_read_as_sam(official_file, tmp_path):
    _, fixture = official_file
    meta = {k: v for k, v in fixture["state_dict"].items() if k not in hq_state_dict(fixture["state_dict"])}
    path = tmp_path / "sam2.1_hiera_mini.pt"
    torch.save({"model": meta}, path)
    state, format = read_state_dict(path)
    assert format == "sam" and len(state) == 319
    model = build(config_from_official(fixture["config"]))
    fresh_hq = {k: v.clone() for k, v in hq_state_dict(model).items()}
    load_weights_into(model, path)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in fresh_hq.items())


def test_save_as_sam_hq_writes_the_official_layout_bit_exactly(official_file, tmp_path):
    _, fixture = official_file
    model = build(config_from_official(fixture["config"]))
    model.load_state_dict(fixture["state_dict"])
    path = save_checkpoint(model, tmp_path / "out.pt", "sam_hq", variant="custom")
    raw = torch.load(path, map_location="cpu", weights_only=True)
    assert list(raw) == ["model"] and list(raw["model"]) == list(fixture["state_dict"])
    assert all(torch.equal(raw["model"][k], v) for k, v in fixture["state_dict"].items())


def test_transformers_export_is_refused_for_sam2(official_file, tmp_path):
    _, fixture = official_file
    model = build(config_from_official(fixture["config"]))
    with pytest.raises(CheckpointError, match="transformers has no sam2 SAM-HQ model"):
        save_checkpoint(model, tmp_path / "t", "transformers", variant="custom")


def test_a_sam1_file_for_a_sam2_variant_names_the_family(tmp_path):
    path = save_checkpoint(build_sam_hq("vit_demo", seed=0), tmp_path / "demo.pth", "sam_hq")
    with torch.device("meta"):
        model = build_sam_hq("sam2.1_hq_hiera_t")
    with pytest.raises(CheckpointError, match=r"holds a vit_demo model \(sam1 family\)"):
        load_weights_into(model, path, variant="sam2.1_hq_hiera_t")


def test_meta_file_names_resolve_to_our_variants():
    with torch.device("meta"):
        model = build_sam_hq("sam2.1_hiera_large")
    assert model.family == "sam2"
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 177_152
