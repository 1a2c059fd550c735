"""save_checkpoint refuses a file name that load_checkpoint would read as another format (a
safetensors file named .pth, an official .pth named .ckpt): what it wrote would not load back."""

import re

import pytest

from samhq_train.model import CheckpointError, load_checkpoint, save_checkpoint


@pytest.mark.parametrize(
    "name, format, suggested",
    [
        ("weights.pth", "safetensors", "weights.safetensors"),
        ("hq.pt", "hq_only", "hq.safetensors"),
        ("sam_hq.safetensors", "sam_hq", "sam_hq.pth"),
        ("sam_hq.ckpt", "sam_hq", "sam_hq.pth"),
        ("model.ckpt", "delta", "model.safetensors"),
    ],
)
def test_a_name_read_as_another_format_is_refused(tmp_path, tiny_model, name, format, suggested):
    with pytest.raises(CheckpointError, match=re.escape(f"name it {tmp_path / suggested}")):
        save_checkpoint(tiny_model, tmp_path / name, format)
    assert not (tmp_path / name).exists()


@pytest.mark.parametrize(
    "name, format", [("w.safetensors", "safetensors"), ("w.pt", "sam_hq"), ("w_dir", "sam_hq")]
)
def test_a_fitting_name_is_written_and_loads_back(tmp_path, tiny_model, name, format):
    save_checkpoint(tiny_model, tmp_path / name, format)
    assert load_checkpoint(tmp_path / name).state_dict().keys() == tiny_model.state_dict().keys()
