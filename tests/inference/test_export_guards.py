"""#19 items 2-3 in exports: weights with a NaN or inf are refused in one line naming the tensor,
before anything is written; a full disk is one line and leaves none of the export's files."""

import os

import pytest
import torch
from safetensors import SafetensorError

from samhq_train.cli.export import main as export_main
from samhq_train.files import DiskFullError
from samhq_train.finite import NonFiniteError
from samhq_train.inference import export_model
from samhq_train.model import load_checkpoint, save_checkpoint
from samhq_train.model.formats import safetensors_files
from tests.reference import random_tiny_model

NAME = "mask_decoder.hf_token.weight"


@pytest.fixture(scope="module")
def diverged():
    model = random_tiny_model(seed=4)
    with torch.no_grad():
        model.get_parameter(NAME).view(-1)[3] = float("nan")
        model.get_parameter("mask_decoder.hf_mlp.layers.0.bias").fill_(float("inf"))
    return model


@pytest.mark.parametrize("targets", [["hq_only"], ["sam_hq", "delta"], ["onnx"]])
def test_an_export_of_non_finite_weights_is_refused_before_writing(diverged, tmp_path, targets):
    out = tmp_path / "out"
    with pytest.raises(NonFiniteError) as info:
        export_model(diverged, out, targets)
    assert str(info.value) == (
        f"not exporting: the weight {NAME} holds nan (and 1 more tensor) - the weights diverged "
        "in training; nothing was written: export an earlier checkpoint"
    )
    assert not out.exists()


def test_samhq_export_of_non_finite_weights_is_one_line(diverged, tmp_path, capsys):
    path = save_checkpoint(diverged, tmp_path / "diverged.safetensors", "safetensors")
    with pytest.raises(SystemExit) as info:
        export_main(["--checkpoint", str(path), "--to", "sam_hq", "--out", str(tmp_path / "x")])
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == (  # refused as it is loaded (formats.loading.check_finite), naming the file
        f"error: {path} holds weights that are not finite: mask_decoder.hf_mlp.layers.0.bias "
        "holds inf (and 1 more tensor); the file is damaged or its run diverged: copy it again, "
        "or use an earlier checkpoint"
    )
    assert not (tmp_path / "x").exists()


def test_a_full_disk_during_an_export_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    model = random_tiny_model(seed=4)
    out = tmp_path / "out"
    export_model(model, out, ["sam_hq"])  # written: a later export fails on the next file
    before = sorted(os.listdir(out))

    def full(tensors, path, metadata=None):
        with open(path, "wb") as handle:
            handle.write(b"\0" * 4096)
        raise SafetensorError(
            "Error while serializing: I/O error: No space left on device (os error 28)"
        )

    monkeypatch.setattr(safetensors_files, "save_file", full)
    with pytest.raises(DiskFullError) as info:
        export_model(model, out, ["hq_only"])
    target = out / "sam_hq_vit_demo_hq.safetensors"
    assert str(info.value).startswith(
        f"no space left on the device writing {target}: it needs more than 4.1 kB, "
    )
    assert "; nothing is left behind (no earlier file was there): " in str(info.value)
    assert sorted(os.listdir(out)) == before  # no partial file, no temporary file


def test_a_failed_export_with_overwrite_keeps_the_files_that_were_there(tmp_path, monkeypatch):
    """What a failed export removes is what it made: a target that existed before (and was
    replaced whole by this call) stays."""
    model = random_tiny_model(seed=4)
    out = tmp_path / "out"
    export_model(model, out, ["sam_hq"])

    def full(tensors, path, metadata=None):
        raise SafetensorError("Error while serializing: I/O error: (os error 28)")

    monkeypatch.setattr(safetensors_files, "save_file", full)
    with pytest.raises(DiskFullError):
        export_model(model, out, ["sam_hq", "hq_only"], overwrite=True)
    assert sorted(os.listdir(out)) == ["sam_hq_vit_demo.pth"]
    loaded = load_checkpoint(out / "sam_hq_vit_demo.pth").state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in model.state_dict().items())
