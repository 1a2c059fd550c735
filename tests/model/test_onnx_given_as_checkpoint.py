"""An ONNX graph given where a checkpoint is read (samhq-export's or samhq-amg's --checkpoint, a
user loading what the export wrote) says what it is and what to give instead."""

import pytest

from samhq_train.model import CheckpointError, load_checkpoint


def test_an_onnx_graph_is_named_as_one(tmp_path):
    graph = tmp_path / "sam_hq_vit_b_decoder.onnx"
    graph.write_bytes(b"\x08\x07\x12\x07pytorch")  # an ONNX protobuf's first bytes
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(graph)
    message = str(err.value)
    assert f"{graph} is an ONNX graph" in message
    assert "onnxruntime" in message and "the checkpoint it was exported from" in message
