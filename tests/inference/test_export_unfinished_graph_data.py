"""An ONNX encoder export stopped after writing (Ctrl-C during its onnxruntime check) removes
what it wrote: the graph and, for one over 2 GB, the weights file beside it (<file>.data, GBs)
too; and removing an export takes the <file>.new.data a stopped swap may leave."""

import pytest
import torch

from samhq_train.inference import export as export_module
from samhq_train.inference import onnx_encoder_export
from samhq_train.model import build_sam_hq


@pytest.fixture
def external_data(monkeypatch):
    """Every graph saved as a graph and its .data file, as one over 2 GB is."""
    monkeypatch.setattr(onnx_encoder_export, "PROTOBUF_LIMIT", 0)


def test_a_stopped_encoder_export_leaves_neither_graph_nor_data(tmp_path, monkeypatch,
                                                                  external_data):
    def stopped(*args, **kwargs):
        assert (tmp_path / "enc_encoder.onnx.data").is_file()  # the export wrote both
        raise KeyboardInterrupt

    monkeypatch.setattr(export_module, "check_onnx_encoder", stopped)
    model = build_sam_hq("vit_demo", seed=0)
    with torch.no_grad(), pytest.raises(KeyboardInterrupt):
        export_module.export_model(model, tmp_path, ["onnx_encoder"], name="enc")
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_removing_an_export_takes_its_data_files(tmp_path):
    names = ["enc.onnx", "enc.onnx.data", "enc.onnx.new.data", "notes.txt"]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    export_module.remove_export(tmp_path / "enc.onnx", "onnx_encoder")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
