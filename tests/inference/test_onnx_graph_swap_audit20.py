"""Mutation audit 20: place_graph over an earlier graph over 2 GB makes `<file>.data` a second
name of the new weights (a hard link), not a copy of them (GBs written again), where the file
system has hard links. data_files_named finds the data file wherever a graph holds a tensor
(node attributes, subgraphs) and names none for a file that is no graph."""

import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from samhq_train.inference import onnx_encoder_export as encoder_export
from tests.inference.test_onnx_graph_and_data_swap import EARLIER, NEW, export, which_graph


def test_the_new_weights_are_linked_not_copied(tmp_path, monkeypatch):
    path = tmp_path / "out" / "g.onnx"
    path.parent.mkdir()
    monkeypatch.setattr(encoder_export, "PROTOBUF_LIMIT", 0)  # both saved with external data
    export(EARLIER, path, tmp_path / "work1")

    def no_copy(*args):
        raise AssertionError(f"copied {args}")

    monkeypatch.setattr(encoder_export.shutil, "copyfile", no_copy)
    export(NEW, path, tmp_path / "work2")
    assert which_graph(path) == "new"
    assert sorted(os.listdir(path.parent)) == ["g.onnx", "g.onnx.data"]


def _saved_with_data(model, path) -> None:
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=f"{path.name}.data", size_threshold=0, convert_attribute=True)


def _tensor(name: str):
    return numpy_helper.from_array(np.zeros(4, np.float32), name)


@pytest.mark.parametrize("where", ["attribute t", "attribute tensors", "subgraph"])
def test_the_data_file_is_found_wherever_a_graph_holds_its_tensors(tmp_path, where):
    if where == "subgraph":  # an If's branch holding the tensor as a Constant
        branch = helper.make_graph(
            [helper.make_node("Constant", [], ["c"], value=_tensor("c"))], "branch", [],
            [helper.make_tensor_value_info("c", TensorProto.FLOAT, [4])])
        node = helper.make_node("If", ["cond"], ["y"], then_branch=branch, else_branch=branch)
    else:
        value = _tensor("t") if where == "attribute t" else [_tensor("t"), _tensor("u")]
        node = helper.make_node("Holder", [], ["y"], domain="test", value=value)
    graph = helper.make_graph([node], "g", [], [])
    path = tmp_path / "g.onnx"
    _saved_with_data(helper.make_model(graph), path)
    assert encoder_export.data_files_named(path) == {"g.onnx.data"}


def test_a_file_that_is_no_graph_names_no_data(tmp_path):
    path = tmp_path / "g.onnx"
    path.write_bytes(b"\xff" * 64)  # not a protobuf message: DecodeError
    assert encoder_export.data_files_named(path) == set()
    assert encoder_export.data_files_named(tmp_path / "missing.onnx") == set()
