"""What a training checkpoint or a delta file records (its Provenance, its state dict) is checked
as it is read: a damaged record is one line naming the file, not a traceback nor an error about a
setting (model.policy=) the user never gave."""

import pytest
import torch

from samhq_train.model import CheckpointError, hq_state_dict, load_checkpoint, save_checkpoint
from samhq_train.model.provenance import Provenance
from tests.reference import random_tiny_model

RECORD = Provenance(variant="vit_demo", seed=0, policy="hq").to_dict()


@pytest.fixture(scope="module")
def trained():
    model = random_tiny_model(seed=0)
    return model, {f"model.{k}": v for k, v in hq_state_dict(model).items()}


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (lambda s: {"state_dict": [1, 2], "samhq": RECORD},
         "its 'state_dict' is not a mapping of tensors"),
        (lambda s: {"state_dict": {"model.x": "y"}, "samhq": RECORD},
         "its 'state_dict' is not a mapping of tensors"),
        (lambda s: {"state_dict": s, "samhq": [1]}, "its record is a list, not a mapping"),
        (lambda s: {"state_dict": s, "samhq": {**RECORD, "policy": 3}},
         "its record's 'policy' is 3, not a string"),
        (lambda s: {"state_dict": s, "samhq": {**RECORD, "seed": "x"}},
         "its record's 'seed' is 'x', not a whole number"),
        (lambda s: {"state_dict": s, "samhq": {**RECORD, "variant": "vit_zzz"}},
         "it records an unknown variant 'vit_zzz'"),
        (lambda s: {"state_dict": s, "samhq": {**RECORD, "policy": "nonsense"}},
         "its recorded policy cannot be rebuilt (model.policy=nonsense: expected one of"),
        # a newer samhq-train's record: what it adds may be what rebuilds the model
        (lambda s: {"state_dict": s, "samhq": {**RECORD, "adapter": "dora", "base_url": "x"}},
         "its record has fields this samhq-train does not know (adapter, base_url): it was "
         "written by a newer version; update samhq-train to read it"),
    ],
    ids=["state-list", "state-strings", "record-list", "policy-int", "seed-str",
         "variant-unknown", "policy-unknown", "newer-fields"],
)
def test_a_damaged_training_checkpoint_record_is_one_line(tmp_path, trained, content, why):
    path = tmp_path / "last.ckpt"
    torch.save(content(trained[1]), path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    assert str(info.value).startswith(f"could not read {path} as a training checkpoint: {why}")


@pytest.mark.parametrize(
    ("metadata", "why"),
    [
        ({"policy": "[1, 2]"}, "its record's 'policy' is [1, 2], not a string"),
        ({"policy": '"nonsense"'}, "its recorded policy cannot be rebuilt (model.policy=nonsense"),
        ({"variant": "vit_zzz"}, "it records an unknown variant 'vit_zzz'"),
    ],
    ids=["policy-list", "policy-unknown", "variant-unknown"],
)
def test_a_damaged_delta_record_is_one_line(tmp_path, trained, metadata, why):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    good = save_checkpoint(trained[0], tmp_path / "delta.safetensors", "delta", policy="hq")
    base = save_checkpoint(trained[0], tmp_path / "base.pth", "sam_hq")
    with safe_open(str(good), "pt") as handle:
        written = handle.metadata()
    path = tmp_path / "damaged.safetensors"
    save_file(load_file(str(good)), str(path), metadata={**written, **metadata})
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, base_checkpoint=base)
    assert str(info.value).startswith(f"could not read {path} as a delta file: {why}")


def test_a_good_training_checkpoint_record_still_loads(tmp_path, trained):
    path = tmp_path / "last.ckpt"
    torch.save({"state_dict": trained[1], "samhq": RECORD, "loops": {}}, path)
    assert torch.equal(load_checkpoint(path).mask_decoder.hf_token.weight,
                       trained[0].mask_decoder.hf_token.weight)
