"""Mutation audit 20: the files an export owns. Removing an onnx_concept export takes its graphs
and the weights of those over 2 GB (<graph>.data), keeps the user's files (and the folder they
are in), and removes the folder it leaves empty. An export over an earlier onnx_concept folder
puts its own graphs in and takes the earlier data files out (not carried over as the user's)."""

import os

from samhq_train.inference import export as export_module
from samhq_train.inference.onnx_concept_export import DECODER_FILE, GRAPH_FILES
from tests.inference.test_folder_exports_written_whole import (  # noqa: F401 (the fixtures)
    earlier_export,
    fake_concept_graphs,
    models,
)

GRAPHS = [*GRAPH_FILES, DECODER_FILE]


def test_removing_a_concept_export_takes_its_data_files_and_keeps_the_users(tmp_path):
    folder = tmp_path / "concept"
    folder.mkdir()
    for name in [*GRAPHS, *(f"{graph}.data" for graph in GRAPHS), "notes.txt"]:
        (folder / name).write_bytes(b"x")
    export_module.remove_export(folder, "onnx_concept")
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt"]
    (folder / "notes.txt").unlink()
    (folder / DECODER_FILE).write_bytes(b"x")
    export_module.remove_export(folder, "onnx_concept")
    assert not folder.exists()


def test_an_export_over_an_earlier_concept_folder_replaces_its_graphs_and_data(
    models, tmp_path, fake_concept_graphs  # noqa: F811
):
    first, second = models
    folder = earlier_export(first, tmp_path, "onnx_concept")
    (folder / f"{GRAPH_FILES[0]}.data").write_bytes(b"the earlier graph's weights")
    earlier = (folder / GRAPH_FILES[0]).read_bytes()
    export_module.export_model(second, tmp_path, ["onnx_concept"], verify=False, overwrite=True)
    assert sorted(os.listdir(folder)) == sorted([*GRAPHS, "notes.txt"])
    assert (folder / GRAPH_FILES[0]).read_bytes() != earlier
