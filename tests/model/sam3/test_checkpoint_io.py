"""Meta's sam3.pt layout in and out: load_checkpoint detects format and variant (flat or
{"model": ...}), carries the detector tensors, computes the tracker's (video parts included), and
our export minus the HQ keys is exactly Meta's state dict."""

import importlib.util

import pytest
import torch

from samhq_train.model import load_checkpoint, save_checkpoint
from samhq_train.model.formats import (
    CheckpointError,
    detect_variant,
    hq_state_dict,
    read_state_dict,
)
from samhq_train.model.registry import family_of_state
from samhq_train.model.sam3 import FAMILY
from samhq_train.model.sam3.model import is_carried_key

is_hq_key = FAMILY.is_hq_key
HAVE_SAM3 = importlib.util.find_spec("sam3") is not None


def assert_same_state(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key


def test_meta_file_is_detected(meta_file, meta_fixture):
    state, fmt = read_state_dict(meta_file)
    assert fmt == "sam"  # no HQ keys: the HQ parts start fresh
    assert family_of_state(state).name == "sam3"
    assert detect_variant(state) == meta_fixture["variant"]


def test_wrapped_meta_file_loads_the_same(tmp_path, meta_fixture, meta_model):
    """The same tensors as the flat file; the HQ parts (not in a Meta file) keep a fresh init,
    which depends on the random state at loading, so they are compared by name and shape."""
    path = tmp_path / "wrapped.pt"
    torch.save({"model": meta_fixture["state_dict"]}, path)
    state, reference = load_checkpoint(path).state_dict(), meta_model.state_dict()
    assert {k: v.shape for k, v in state.items()} == {k: v.shape for k, v in reference.items()}
    assert_same_state(
        {k: v for k, v in state.items() if not is_hq_key(k)},
        {k: v for k, v in reference.items() if not is_hq_key(k)},
    )


def test_carried_and_computed_split(meta_model, meta_fixture):
    state = meta_fixture["state_dict"]
    carried = [k for k in state if is_carried_key(k)]
    assert any(k.startswith("detector.backbone.vision_backbone.convs.") for k in carried)
    assert not any(k.startswith("tracker.") for k in carried)  # the tracker is computed
    computed = {n for n, _ in meta_model.named_parameters()}
    assert computed.isdisjoint(carried)
    tracker = {k for k in state if k.startswith("tracker.")}
    assert {"tracker.maskmem_backbone.out_proj.weight", "tracker.no_obj_ptr"} <= tracker
    assert tracker <= set(meta_model.state_dict())
    assert not any(b.requires_grad for b in meta_model.buffers())


def test_export_minus_hq_is_meta_layout(tmp_path, meta_model, meta_fixture):
    path = save_checkpoint(meta_model, tmp_path / "sam3_hq.pt", "sam_hq")
    exported = torch.load(path, map_location="cpu", weights_only=True)
    assert set(hq_state_dict(exported)) == {k for k in meta_model.state_dict() if is_hq_key(k)}
    assert_same_state(
        {k: v for k, v in exported.items() if not is_hq_key(k)}, meta_fixture["state_dict"]
    )
    again = load_checkpoint(path)  # an HQ-SAM 3 file: format sam_hq, everything loads
    assert_same_state(again.state_dict(), meta_model.state_dict())


def test_safetensors_and_hq_only_round_trip(tmp_path, meta_model, meta_file):
    with torch.no_grad():
        for p in meta_model.sam_mask_decoder.hf_mlp.parameters():
            p.add_(0.1)
    try:
        full = load_checkpoint(
            save_checkpoint(meta_model, tmp_path / "full.safetensors", "safetensors")
        )
        assert_same_state(full.state_dict(), meta_model.state_dict())
        hq_path = save_checkpoint(meta_model, tmp_path / "hq.safetensors", "hq_only")
        with pytest.raises(CheckpointError, match="base"):
            load_checkpoint(hq_path)
        hq = load_checkpoint(hq_path, variant="sam3_hq_demo", base_checkpoint=meta_file)
        assert_same_state(hq.state_dict(), meta_model.state_dict())
    finally:
        with torch.no_grad():
            for p in meta_model.sam_mask_decoder.hf_mlp.parameters():
                p.sub_(0.1)


def test_a_computed_key_missing_is_one_error(tmp_path, meta_fixture):
    state = dict(meta_fixture["state_dict"])
    del state["tracker.sam_mask_decoder.iou_token.weight"]
    path = tmp_path / "broken.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="iou_token"):
        load_checkpoint(path)


@pytest.mark.skipif(
    not HAVE_SAM3, reason="Meta's sam3 package is not installed (pip install sam3==0.1.4 --no-deps)"
)
def test_meta_loads_our_export(tmp_path, meta_model):
    """Our export (HQ keys left out) loads strictly into Meta's classes, as _load_checkpoint of
    model_builder maps it (tracker. -> the tracker, detector.backbone -> the backbone)."""
    from .meta_reference import build_meta_mini

    tracker, _, _ = build_meta_mini(seed=3)
    exported = torch.load(
        save_checkpoint(meta_model, tmp_path / "x.pt", "sam_hq"), weights_only=True
    )
    mapped = {}
    for key, value in exported.items():
        if is_hq_key(key):
            continue
        mapped[key.removeprefix("detector.").removeprefix("tracker.")] = value
    tracker.load_state_dict(mapped, strict=True)
    assert torch.equal(tracker.no_mem_embed, meta_model.tracker.no_mem_embed)
