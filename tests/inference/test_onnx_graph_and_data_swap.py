"""An ONNX graph over 2 GB is two files, `<file>.onnx` and the `<file>.onnx.data` it names, which no
one rename replaces: onnx_encoder_export.place_graph keeps the graph at the path and the data it
names matching at every instant, so a signal or crash mid-export leaves the earlier export or the
new one, never one's graph with the other's weights. Checked on two tiny graphs (y = x + a, then
y = x * b; each weight 2 kB, so saved as external data) run in onnxruntime after every rename."""

import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from samhq_train import files
from samhq_train.inference import onnx_encoder_export as encoder_export
from samhq_train.inference.onnx_encoder_export import onnx_session, save_with_metadata
from tests.signal_mid_write import _SignalAtRenameOf

X = np.arange(512, dtype=np.float32)


def tiny_graph(op: str, weight: float) -> onnx.ModelProto:
    """y = op(x, w): x and w of 512 floats, w all `weight`."""
    w = numpy_helper.from_array(np.full(512, weight, np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node(op, ["x", "w"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [512])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [512])],
        [w],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


EARLIER, NEW = tiny_graph("Add", 3.0), tiny_graph("Mul", 5.0)
OUTPUTS = {"earlier": X + 3, "new": X * 5}


def export(model: onnx.ModelProto, path, work) -> None:
    """What export_onnx_encoder does after tracing: the traced file in a folder of its own, then
    save_with_metadata to `path`."""
    work.mkdir(parents=True)
    onnx.save_model(model, str(work / "traced.onnx"))
    save_with_metadata(work / "traced.onnx", path, {"precision": "fp32"})


def which_graph(path) -> str:
    """"earlier" or "new": the graph at `path`, run in onnxruntime with its data; fails when it
    does not load or gives neither's output (one graph with the other's weights)."""
    y = onnx_session(path).run(None, {"x": X})[0]
    matches = [name for name, out in OUTPUTS.items() if np.array_equal(y, out)]
    assert matches, f"the graph at {path.name} gives neither export's output: mixed files"
    return matches[0]


class _CheckAtEveryRename:
    """`os` as the writers see it, but each rename and link first and afterwards runs the graph
    at `path`: at every instant of an export it is the earlier one or the new one. (The removals
    between come right after a rename and right before the next one or the end.)"""

    def __init__(self, path):
        self.graph = path
        self.seen = []

    def __getattr__(self, attr):
        return getattr(os, attr)

    def _checked(self, op, *args):
        self.seen.append(which_graph(self.graph))
        op(*args)
        self.seen.append(which_graph(self.graph))

    def replace(self, src, dst):
        self._checked(os.replace, src, dst)

    def link(self, src, dst):
        self._checked(os.link, src, dst)


@pytest.mark.parametrize("earlier_large", [True, False], ids=["over-large", "over-small"])
@pytest.mark.parametrize("new_large", [True, False], ids=["large", "small"])
def test_graph_and_data_match_at_every_rename(tmp_path, monkeypatch, earlier_large, new_large):
    path = tmp_path / "out" / "g.onnx"
    path.parent.mkdir()
    monkeypatch.setattr(encoder_export, "PROTOBUF_LIMIT", 0 if earlier_large else 2**31)
    export(EARLIER, path, tmp_path / "work1")
    assert which_graph(path) == "earlier"
    monkeypatch.setattr(encoder_export, "PROTOBUF_LIMIT", 0 if new_large else 2**31)
    checker = _CheckAtEveryRename(path)
    monkeypatch.setattr(files, "os", checker)
    monkeypatch.setattr(encoder_export, "os", checker)
    export(NEW, path, tmp_path / "work2")
    assert checker.seen[0] == "earlier" and checker.seen[-1] == "new"
    assert which_graph(path) == "new"
    expected = ["g.onnx", "g.onnx.data"] if new_large else ["g.onnx"]
    assert sorted(os.listdir(path.parent)) == expected


@pytest.mark.parametrize("new_large", [True, False], ids=["large", "small"])
def test_a_signal_as_the_graph_is_renamed_keeps_the_earlier_pair(tmp_path, monkeypatch, new_large):
    """Ctrl-C as the first graph is renamed over g.onnx (before: the earlier data was replaced,
    or removed, first): the earlier graph runs with its own weights, nothing else is left
    beside it, and the next export writes the new pair whole."""
    path = tmp_path / "out" / "g.onnx"
    path.parent.mkdir()
    monkeypatch.setattr(encoder_export, "PROTOBUF_LIMIT", 0)
    export(EARLIER, path, tmp_path / "work1")
    monkeypatch.setattr(encoder_export, "PROTOBUF_LIMIT", 0 if new_large else 2**31)
    with monkeypatch.context() as patch:
        signal = _SignalAtRenameOf(path.name)
        patch.setattr(files, "os", signal)
        with pytest.raises(KeyboardInterrupt):
            export(NEW, path, tmp_path / "work2")
    assert signal.signalled
    assert which_graph(path) == "earlier"
    assert sorted(os.listdir(path.parent)) == ["g.onnx", "g.onnx.data"]
    export(NEW, path, tmp_path / "work3")
    assert which_graph(path) == "new"
    expected = ["g.onnx", "g.onnx.data"] if new_large else ["g.onnx"]
    assert sorted(os.listdir(path.parent)) == expected
