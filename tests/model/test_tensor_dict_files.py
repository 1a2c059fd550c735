"""Which torch files hold a plain state dict (torch_files.is_tensor_dict through load_checkpoint;
mutation audit round 6): an empty dict or one with a non-tensor value is not one, whether named
as weights (.pth) or as a training checkpoint (.ckpt, where plain weights get their own line)."""

import warnings

import pytest
import torch

from samhq_train.model import CheckpointError, load_checkpoint

NOT_TENSORS = "is not a state dict of tensors (official SAM / SAM-HQ layout expected)"
NOT_TRAINING = "is not a training checkpoint (no 'state_dict' in it)"
PLAIN = "holds plain model weights (an official or exported SAM / SAM-HQ file), not a training"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.pth", {}, NOT_TENSORS),
        ("mixed.pth", {"w": torch.ones(2), "step": 3}, NOT_TENSORS),
        ("empty.ckpt", {}, NOT_TRAINING),
        ("mixed.ckpt", {"w": torch.ones(2), "step": 3}, NOT_TRAINING),
        ("weights.ckpt", {"w": torch.ones(2)}, PLAIN),
    ],
)
def test_what_is_a_plain_state_dict(tmp_path, name, content, message):
    path = tmp_path / name
    torch.save(content, path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert str(err.value).startswith(f"{path} {message}"), str(err.value)


@pytest.mark.parametrize("name", ["model.pt", "model.ckpt"])
def test_a_torchscript_program_is_named_as_one_without_torchs_warning(tmp_path, name):
    path = tmp_path / name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script is deprecated
        torch.jit.save(torch.jit.script(torch.nn.Linear(2, 2)), path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch.load's "looks like a TorchScript archive"
        with pytest.raises(CheckpointError) as err:
            load_checkpoint(path)
    assert str(err.value) == (
        f"{path} is a TorchScript program (torch.jit.save), not a weights file: load it with "
        "torch.jit.load, save its state_dict() with torch.save and give that file"
    )
