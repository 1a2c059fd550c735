"""Mutation audit (round 23) of data/write_once.py: a rename that fails is raised unless another
process's identical set is in place (never a True for a root holding nothing), and a failing
generator leaves neither a half set nor its temporary folder."""

import json
import os

import pytest

from samhq_train.data import write_once as module
from samhq_train.data.write_once import MARKER, write_once


def write(folder):
    (folder / "data.txt").write_text("mine")


def test_a_rename_that_fails_is_raised_not_reported_as_written(tmp_path, monkeypatch):
    def refuse(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(module.os, "rename", refuse)
    root = tmp_path / "set"
    with pytest.raises(OSError, match="^no space left on the device writing .*set: "):
        write_once(root, {"n": 1}, write)
    assert not root.exists() and list(tmp_path.iterdir()) == []  # nor a temporary left


def test_a_rename_beaten_by_another_process_with_the_same_set_is_written(tmp_path, monkeypatch):
    root = tmp_path / "set"
    rename = os.rename

    def beaten(src, dst):  # another rank renamed its identical set in between
        other = tmp_path / "other"
        other.mkdir()
        (other / MARKER).write_text(json.dumps({"n": 1}))
        rename(other, dst)
        raise OSError(39, "Directory not empty")

    monkeypatch.setattr(module.os, "rename", beaten)
    assert write_once(root, {"n": 1}, write)
    assert [p.name for p in tmp_path.iterdir()] == ["set"]


def test_a_failing_generator_leaves_no_temporary(tmp_path):
    def fail(folder):
        (folder / "half.txt").write_text("half")
        raise RuntimeError("generator failed")

    with pytest.raises(RuntimeError, match="generator failed"):
        write_once(tmp_path / "set", {"n": 1}, fail)
    assert list(tmp_path.iterdir()) == []


def test_a_marker_cut_short_marks_a_set_to_rewrite(tmp_path):
    root = tmp_path / "set"
    root.mkdir()
    (root / "data.txt").write_text("half")
    (root / MARKER).write_text('{"n": ')  # the older writer stopped mid-write
    assert write_once(root, {"n": 1}, write)
    assert (root / "data.txt").read_text() == "mine"
    assert json.loads((root / MARKER).read_text()) == {"n": 1}


def test_the_refusal_names_the_key_in_both_places(tmp_path):
    from samhq_train.data.image_files import DataError
    from samhq_train.data.moving_shapes import VIDEO_DEMO
    from samhq_train.data.write_once import check_generated_root

    (tmp_path / "mine.txt").write_text("keep")
    with pytest.raises(DataError) as refused:
        check_generated_root(tmp_path, "data.val_root", VIDEO_DEMO)
    assert str(refused.value).startswith(f"data.val_root={tmp_path} is not demo data")
    assert str(refused.value).endswith("else point data.val_root at another folder")
    assert "data.root" not in str(refused.value)
