"""A file that records its variant (a training checkpoint, a delta export) asked to be another
model is refused naming both, as a file whose tensors tell is: an HQ-SAM 2 run's HQ tensors alone
do not tell their variant, and were compared key by key ("25 missing keys ...")."""

import pytest
import torch

from samhq_train.model import (
    CheckpointError,
    build_sam_hq,
    hq_state_dict,
    load_checkpoint,
    save_checkpoint,
)
from samhq_train.model.formats import lightning as lightning_format


@pytest.fixture(scope="module")
def sam2_model():
    return build_sam_hq("sam2.1_hq_hiera_demo", seed=3)


def _refusal(path):
    return (
        f"{path} holds a sam2.1_hq_hiera_demo model (sam2 family) but variant vit_demo was "
        "asked: use model=sam2.1_hq_hiera_demo (or model.variant=sam2.1_hq_hiera_demo), or give a "
        "vit_demo checkpoint"
    )


def test_a_training_checkpoint_of_another_family_names_both(tmp_path, sam2_model):
    path = tmp_path / "sam2.ckpt"
    torch.save({
        lightning_format.STATE_KEY: {
            lightning_format.MODEL_PREFIX + k: v for k, v in hq_state_dict(sam2_model).items()
        },
        lightning_format.PROVENANCE_KEY: {"variant": "sam2.1_hq_hiera_demo", "seed": 3},
    }, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path, "vit_demo")
    assert str(err.value) == _refusal(path)


def test_a_delta_file_of_another_family_names_both(tmp_path, sam2_model):
    path = save_checkpoint(sam2_model, tmp_path / "sam2_delta.safetensors", "delta")
    base = save_checkpoint(build_sam_hq("vit_demo", seed=3), tmp_path / "base.pth", "sam_hq")
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path, "vit_demo", base_checkpoint=base)
    assert str(err.value) == _refusal(path)
