"""Weights as training scripts save them: a state dict saved from a DistributedDataParallel or
torch.compile'd model ("module." / "_orig_mod." before every key), or kept in a dict beside the
script's own state ({"model": ...}, {"state_dict": ...}, {"model_state": ...} as fine-tuning
repositories write). Each loads exactly as the plain file does; a Lightning checkpoint stays
refused as weights."""

import pytest
import torch
from safetensors.torch import save_file

from samhq_train.model import CheckpointError, build_sam_hq, load_checkpoint, save_checkpoint


def _prefixed(state, prefix):
    return {prefix + k: v for k, v in state.items()}


LAYOUTS = {
    "ddp": lambda s: _prefixed(s, "module."),
    "compiled": lambda s: _prefixed(s, "_orig_mod."),
    "compiled_ddp": lambda s: _prefixed(s, "module._orig_mod."),
    "model": lambda s: {"model": s},
    "state_dict": lambda s: {"state_dict": s},
    "model_state": lambda s: {"model_state": s, "epoch": 3},
    "model_state_dict": lambda s: {"model_state_dict": s, "optimizer_state_dict": {"state": {}}},
    "ddp_in_state_dict": lambda s: {"state_dict": _prefixed(s, "module."), "epoch": 1},
    "with_optimizer": lambda s: {"model": s, "optimizer": {"param_groups": []}, "epoch": 5},
}


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    model = build_sam_hq("vit_demo", seed=3)
    path = save_checkpoint(model, tmp_path_factory.mktemp("plain") / "w.pth", "sam_hq")
    return model.state_dict(), torch.load(path, weights_only=True)


def _same(model, state):
    loaded = model.state_dict()
    return set(loaded) == set(state) and all(torch.equal(loaded[k], state[k]) for k in state)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_wrapped_torch_file_loads_as_the_plain_one(tmp_path, plain, layout):
    expected, official = plain
    path = tmp_path / f"{layout}.pth"
    torch.save(LAYOUTS[layout](official), path)
    assert _same(load_checkpoint(path), expected)


def test_safetensors_saved_from_a_ddp_model_loads_as_the_plain_one(tmp_path, plain):
    expected, official = plain
    path = tmp_path / "ddp.safetensors"
    save_file({k: v.contiguous() for k, v in _prefixed(official, "module.").items()}, str(path))
    assert _same(load_checkpoint(path), expected)


def test_a_sam2_file_of_a_ddp_model_loads_as_the_plain_one(tmp_path):
    model = build_sam_hq("sam2.1_hq_hiera_demo", seed=3)
    path = tmp_path / "sam2_ddp.pt"
    torch.save({"model": _prefixed(model.state_dict(), "module.")}, path)
    assert _same(load_checkpoint(path), model.state_dict())


def test_two_state_dicts_in_one_file_are_refused_naming_both(tmp_path, plain):
    _, official = plain
    path = tmp_path / "two.pth"
    torch.save({"model": official, "state_dict": official}, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert str(err.value) == (
        f"{path} holds several state dicts ('model', 'state_dict'): save the one to use alone "
        "(torch.save(checkpoint[<key>], <file>))"
    )


@pytest.mark.parametrize("marker", ["pytorch-lightning_version", "loops", "samhq"])
def test_a_lightning_checkpoint_named_as_weights_is_still_refused(tmp_path, plain, marker):
    _, official = plain
    path = tmp_path / "train.pth"
    torch.save({"state_dict": _prefixed(official, "model."), marker: {}}, path)
    with pytest.raises(CheckpointError, match="is a training checkpoint .*format=lightning"):
        load_checkpoint(path)


def test_weights_under_another_name_are_one_line_naming_the_keys(tmp_path, plain):
    _, official = plain
    path = tmp_path / "lit.pth"
    torch.save({"state_dict": _prefixed(official, "sam.")}, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    first = sorted(_prefixed(official, "sam."))[:3]
    assert str(err.value) == (
        f"{path} holds no SAM, SAM 2.1 or SAM 3 weights under their official names (its first "
        f"keys: {first}): save the SAM model's own state_dict, without the name a wrapper "
        "module kept it under"
    )
