"""Audit 21: a recorded variant against the one asked (loading.check_variant): an earlier name
asked is compared (and named) as its current one."""

import pytest
import torch

from samhq_train.model import CheckpointError, build_sam_hq, hq_state_dict, load_checkpoint
from samhq_train.model.formats import lightning as lightning_format


def test_an_earlier_variant_name_asked_is_named_as_its_current_one(tmp_path):
    """Mutant: the asked name not made canonical (the refusal named 'tiny')."""
    model = build_sam_hq("sam2.1_hq_hiera_demo", seed=3)
    path = tmp_path / "sam2.ckpt"
    torch.save({
        lightning_format.STATE_KEY: {lightning_format.MODEL_PREFIX + k: v
                                     for k, v in hq_state_dict(model).items()},
        lightning_format.PROVENANCE_KEY: {"variant": "sam2.1_hq_hiera_demo", "seed": 3},
    }, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path, "tiny")
    assert "but variant vit_demo was asked" in str(err.value)


def test_a_file_recording_no_variant_loads_as_the_variant_asked(tmp_path):
    """Official weights record nothing: nothing to compare (its tensors are checked after).
    Mutant: an unknown recorded variant compared all the same (ValueError on None)."""
    model = build_sam_hq("vit_demo", seed=3)
    path = tmp_path / "sam_hq_vit_demo.pth"
    torch.save(model.state_dict(), path)
    loaded = load_checkpoint(path, "vit_demo").state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in model.state_dict().items())
