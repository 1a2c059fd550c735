"""Audit 21: a transformers folder's shard index against its shards, and the checkpoint files a
folder that is no transformers directory is said to hold (tiny stand-in tensors, no model)."""

import json

import pytest
import torch
from safetensors.torch import save_file

from samhq_train.model import CheckpointError
from samhq_train.model.formats.transformers_dir import SHARD_INDEX, _files_in, _load_weights

W = torch.zeros(2)


def sharded(folder, weight_map):
    folder.mkdir()
    save_file({"a": torch.zeros(2), "b": torch.ones(2)}, str(folder / "s1.safetensors"))
    save_file({"c": W}, str(folder / "s2.safetensors"))
    (folder / SHARD_INDEX).write_text(json.dumps({"weight_map": weight_map}))
    return folder


def test_shards_matching_their_index_load_whole(tmp_path):
    folder = sharded(tmp_path / "f", {"a": "s1.safetensors", "b": "s1.safetensors",
                                      "c": "s2.safetensors"})
    assert sorted(_load_weights(folder)) == ["a", "b", "c"]


def test_a_tensor_listed_that_no_shard_holds_is_refused(tmp_path):
    """Mutant: only tensors in a shard but not listed refused."""
    folder = sharded(tmp_path / "f", {"a": "s1.safetensors", "b": "s1.safetensors",
                                      "c": "s2.safetensors", "d": "s2.safetensors"})
    with pytest.raises(CheckpointError, match=r"does not match its shards: 1 tensors .* "
                                              r"first: \['d'\]"):
        _load_weights(folder)


def test_an_empty_weight_map_is_refused(tmp_path):
    """Mutant: an empty map read as a folder of no tensors."""
    folder = sharded(tmp_path / "f", {})
    with pytest.raises(CheckpointError, match="it has no 'weight_map' of tensors to files"):
        _load_weights(folder)


def test_the_files_named_are_three_then_a_count_and_folders_are_none(tmp_path):
    """Mutants: the count from five on; a folder named like a checkpoint listed."""
    (tmp_path / "old.pth").mkdir()
    for name in ("a.pth", "b.ckpt", "c.safetensors", "d.bin"):
        (tmp_path / name).write_bytes(b"x")
    assert _files_in(tmp_path) == (
        "; give the path of a checkpoint file in it instead: a.pth, b.ckpt, c.safetensors (and "
        "1 more)"
    )
    (tmp_path / "d.bin").unlink()
    assert _files_in(tmp_path).endswith(": a.pth, b.ckpt, c.safetensors")


def test_a_config_json_that_is_not_an_object_is_one_line(tmp_path):
    """Mutant TR9: probe without its isinstance(config, dict) check (an AttributeError)."""
    from samhq_train.model.formats.transformers_dir import CONFIG, WEIGHTS, probe

    folder = tmp_path / "f"
    folder.mkdir()
    save_file({"a": W}, str(folder / WEIGHTS))
    (folder / CONFIG).write_text("[1, 2]")
    with pytest.raises(CheckpointError, match=r"config\.json has model_type None, expected"):
        probe(folder)


def test_a_pytorch_model_bin_of_other_objects_is_refused(tmp_path):
    """Mutant TR8: pytorch_model.bin taken without checking it holds only tensors."""
    from samhq_train.model.formats.transformers_dir import TORCH_WEIGHTS

    folder = tmp_path / "f"
    folder.mkdir()
    torch.save({"a": W, "step": 3}, folder / TORCH_WEIGHTS)
    with pytest.raises(CheckpointError, match="pytorch_model.bin is not a state dict of tensors"):
        _load_weights(folder)
