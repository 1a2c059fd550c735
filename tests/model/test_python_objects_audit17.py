"""A weights file (.pth) that holds Python objects is refused without unpickling them: only a
training checkpoint (load_torch's python_objects=True, older Lightning hyperparameters) is read
in full. Mutation audit 17."""

import os

import pytest
import torch

from samhq_train.model import CheckpointError, load_checkpoint


class _Planted:
    """Unpickled, it makes a folder: the sign that the file's objects were run."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_a_weights_file_with_python_objects_is_refused_unread(tmp_path):
    """Mutant: load_torch ignoring python_objects=False (every archive with objects unpickled)."""
    marker = tmp_path / "ran"
    path = tmp_path / "weights.pth"
    torch.save({"mask_decoder.hf_token.weight": torch.ones(1, 8), "x": _Planted(str(marker))},
               path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, "vit_demo")
    assert str(info.value) == (
        f"could not read {path} as a PyTorch checkpoint: it holds Python objects other than "
        "tensors, not a weights file")
    assert not marker.exists()
