"""transformers folders as save_pretrained also writes them: the weights in shards listed by
model.safetensors.index.json, or as pytorch_model.bin; each loads as the one-file folder does. A
shard index that does not fit its shards, or names a file outside the folder, is one line; a
folder that is no transformers folder but holds a checkpoint file names that file."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from samhq_train.model import CheckpointError, load_checkpoint, save_checkpoint
from tests.model.test_checkpoints import assert_same_weights

INDEX = "model.safetensors.index.json"


def _sharded(tmp_path, model, *, index_edit=None):
    folder = save_checkpoint(model, tmp_path / "sharded", "transformers")
    weights = load_file(str(folder / "model.safetensors"))
    (folder / "model.safetensors").unlink()
    keys = sorted(weights)
    weight_map = {}
    for i, part in enumerate((keys[: len(keys) // 2], keys[len(keys) // 2 :]), start=1):
        name = f"model-0000{i}-of-00002.safetensors"
        save_file({k: weights[k] for k in part}, str(folder / name), metadata={"format": "pt"})
        weight_map.update(dict.fromkeys(part, name))
    if index_edit is not None:
        index_edit(weight_map)
    (folder / INDEX).write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    return folder


def test_a_sharded_folder_loads_as_the_one_file_folder(tmp_path, tiny_model):
    assert_same_weights(load_checkpoint(_sharded(tmp_path, tiny_model)), tiny_model)


def test_a_folder_with_pytorch_model_bin_loads_as_the_one_file_folder(tmp_path, tiny_model):
    folder = save_checkpoint(tiny_model, tmp_path / "bin", "transformers")
    torch.save(load_file(str(folder / "model.safetensors")), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    assert_same_weights(load_checkpoint(folder), tiny_model)


def _drop_one(weight_map):
    weight_map.pop(sorted(weight_map)[0])


def _outside(weight_map):
    weight_map[sorted(weight_map)[0]] = "../elsewhere.safetensors"


def _missing_shard(weight_map):
    weight_map[sorted(weight_map)[0]] = "model-00003-of-00002.safetensors"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_drop_one, f"{INDEX} does not match its shards: 1 tensors listed but not in the shard "
         "named, or in a shard but not listed, first: "),
        (_outside, f"could not read .*{INDEX} as a shard index: '../elsewhere.safetensors' is "
         "not a file name in its folder"),
        (_missing_shard, "model-00003-of-00002.safetensors not found \\(listed in its shard "
         "index: copy the whole folder\\)"),
    ],
)
def test_a_shard_index_that_does_not_fit_is_one_line(tmp_path, tiny_model, edit, message):
    folder = _sharded(tmp_path, tiny_model, index_edit=edit)
    with pytest.raises(CheckpointError, match=message) as err:
        load_checkpoint(folder)
    assert "\n" not in str(err.value)


def test_a_folder_holding_a_checkpoint_file_names_it(tmp_path, tiny_model):
    save_checkpoint(tiny_model, tmp_path / "run" / "sam_hq_vit_demo.pth", "sam_hq")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(tmp_path / "run")
    assert str(err.value) == (
        f"{tmp_path / 'run'} is a folder but not a transformers SamHQ directory: expected "
        "config.json and model.safetensors (or model.safetensors.index.json with its shards, or "
        "pytorch_model.bin) in it; give the path of a checkpoint file in it instead: "
        "sam_hq_vit_demo.pth"
    )


def test_json_files_written_with_a_byte_order_mark_load(tmp_path, tiny_model):
    """config.json and the shard index as a Windows editor saves them ("UTF-8 with BOM")."""
    folder = _sharded(tmp_path, tiny_model)
    for name in ("config.json", INDEX):
        (folder / name).write_bytes(b"\xef\xbb\xbf" + (folder / name).read_bytes())
    assert_same_weights(load_checkpoint(folder), tiny_model)
