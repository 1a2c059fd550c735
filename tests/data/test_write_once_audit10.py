"""Mutation audit (round 10) of data/write_once.py: a root already written with the same
parameters is left alone (nothing rewritten), one written with others is replaced, an empty
folder may be written into, and a process that finishes first wins (the later one keeps its
files and reports that it wrote nothing)."""

import json

import pytest

from samhq_train.data.image_files import DataError
from samhq_train.data.write_once import MARKER, marker_params, write_once


def writer(text: str, calls: list):
    def write(folder):
        calls.append(folder)
        (folder / "data.txt").write_text(text)

    return write


def test_written_once_then_left_alone_and_rewritten_for_other_parameters(tmp_path):
    root, calls = tmp_path / "set", []
    assert write_once(root, {"n": 1}, writer("first", calls))
    assert marker_params(root) == {"n": 1} and (root / "data.txt").read_text() == "first"
    assert not write_once(root, {"n": 1}, writer("second", calls))
    assert len(calls) == 1 and (root / "data.txt").read_text() == "first"
    (root / "stale.txt").write_text("from the first parameters")
    assert write_once(root, {"n": 2}, writer("third", calls))
    assert sorted(p.name for p in root.iterdir()) == [MARKER, "data.txt"]
    assert (root / "data.txt").read_text() == "third" and marker_params(root) == {"n": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["set"]  # no temporary folder left


def test_an_empty_folder_is_written_into_and_a_foreign_one_refused(tmp_path):
    root = tmp_path / "empty"
    root.mkdir()
    assert write_once(root, {"n": 1}, writer("x", []))
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "mine.txt").write_text("keep")
    with pytest.raises(DataError, match="is not demo data made by samhq_train"):
        write_once(foreign, {"n": 1}, writer("x", []))
    assert [p.name for p in foreign.iterdir()] == ["mine.txt"]


def test_a_process_that_finished_first_wins(tmp_path):
    """Another rank writes the same root while this one is writing: this call keeps theirs."""
    root = tmp_path / "set"

    def write(folder):
        (folder / "data.txt").write_text("mine")
        root.mkdir()
        (root / "data.txt").write_text("theirs")
        (root / MARKER).write_text(json.dumps({"n": 1}))

    assert not write_once(root, {"n": 1}, write)
    assert (root / "data.txt").read_text() == "theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["set"]
