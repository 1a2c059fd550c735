"""formats/errors.py recorded_provenance, the checks of a training checkpoint's or a delta's
record, on the fields test_damaged_records leaves out: a None policy, a bool seed, the base's
path, the LoRA settings; and load_torch's size comparison on tensors held in a tuple.
Mutation audit 17."""

import pytest
import torch

from samhq_train.model import CheckpointError, hq_state_dict, load_checkpoint, save_checkpoint
from samhq_train.model.formats.torch_files import load_torch
from samhq_train.model.provenance import Provenance
from tests.reference import random_tiny_model

RECORD = Provenance(variant="vit_demo", seed=0, policy="hq").to_dict()


@pytest.fixture(scope="module")
def model():
    return random_tiny_model(seed=0)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"policy": None}, "its record's 'policy' is None, not a string"),
        ({"seed": True}, "its record's 'seed' is True, not a whole number"),
        ({"base_checkpoint": 5}, "its record's 'base_checkpoint' is 5, not a string"),
        ({"base_sha256": ["x"]}, "its record's 'base_sha256' is ['x'], not a string"),
        ({"policy_settings": [1]}, "its record's 'policy_settings' is [1], not a mapping"),
        ({"policy_settings": {"name": "nonsense"}}, "its recorded policy cannot be rebuilt ("),
    ],
    ids=["policy-none", "seed-bool", "base-int", "sha-list", "settings-list", "settings-bad"],
)
def test_a_damaged_record_field_is_one_line(tmp_path, model, change, why):
    """Mutants: None allowed for the policy; bools taken as ints; the base's fields or the
    settings' type unchecked; the policy rebuilt from its name alone (the settings unread)."""
    path = tmp_path / "last.ckpt"
    state = {f"model.{k}": v for k, v in hq_state_dict(model).items()}
    torch.save({"state_dict": state, "samhq": {**RECORD, **change}}, path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert str(info.value).startswith(f"could not read {path} as a training checkpoint: {why}")


def test_a_delta_policy_mapping_without_a_name_is_one_line(tmp_path, model):
    """Mutant: policy["name"] (a KeyError traceback)."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    good = save_checkpoint(model, tmp_path / "delta.safetensors", "delta", policy="hq")
    base = save_checkpoint(model, tmp_path / "base.pth", "sam_hq")
    with safe_open(str(good), "pt") as handle:
        written = handle.metadata()
    path = tmp_path / "damaged.safetensors"
    save_file(load_file(str(good)), str(path), metadata={**written, "policy": '{"rank": 4}'})
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, base_checkpoint=base)
    assert str(info.value).startswith(
        f"could not read {path} as a delta file: its record's 'policy' is None, not a string")


def test_tensors_in_a_tuple_of_a_whole_archive_still_load(tmp_path):
    """Mutant: _storage_sizes not looking into tuples (their records then seem to be extra)."""
    path = tmp_path / "tuple.pth"
    torch.save({"pair": (torch.arange(6.0), torch.ones(2, 2))}, path)
    loaded = load_torch(path)
    assert torch.equal(loaded["pair"][0], torch.arange(6.0))


def test_inspect_alone_checks_a_training_checkpoints_record(tmp_path, model):
    """inspect (the check stages' reading, before any weights load) refuses the record too.
    Mutant: lightning.probe taking the record unchecked (only load_checkpoint's read refused)."""
    from samhq_train.model import inspect

    path = tmp_path / "last.ckpt"
    state = {f"model.{k}": v for k, v in hq_state_dict(model).items()}
    torch.save({"state_dict": state, "samhq": {**RECORD, "variant": "vit_zzz"}}, path)
    with pytest.raises(CheckpointError) as info:
        inspect(path)
    assert str(info.value).startswith(
        f"could not read {path} as a training checkpoint: it records an unknown variant 'vit_zzz'")
