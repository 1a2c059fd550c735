"""Mutation audit 19: session 25's whole-or-nothing writes. files.all_or_none removes a result's
files on any stop (a signal too) and keeps them when the block ends; files.atomic_write_bytes,
the evaluation reports, samhq-amg's json and the video demo's marker go through a temporary; a
marker cut short writes the videos again; user_files.file_problem words a missing path and a
folder."""

import json
import os

import numpy as np
import pytest

from samhq_train import files, user_files
from samhq_train.data import moving_shapes, write_once
from samhq_train.evaluation import report
from samhq_train.inference import amg_command
from tests.signal_mid_write import _SignalAtRenameOf, check_signal_keeps_earlier_file


@pytest.mark.parametrize("stop", [KeyboardInterrupt, OSError])
def test_all_or_none_removes_every_file_listed_on_a_stop(tmp_path, stop):
    with pytest.raises(stop), files.all_or_none([]) as written:
        for name in ("a.json", "a.png"):
            written.append(tmp_path / name)
            written[-1].write_text("x")
        raise stop
    assert list(tmp_path.iterdir()) == []


def test_all_or_none_keeps_the_files_of_a_block_that_ends(tmp_path):
    with files.all_or_none([tmp_path / "a.json"]) as written:
        written[0].write_text("x")
    assert (tmp_path / "a.json").read_text() == "x"


def test_atomic_write_bytes_goes_through_a_temporary(tmp_path, monkeypatch):
    check_signal_keeps_earlier_file(monkeypatch, tmp_path / "a.png",
                                    lambda: files.atomic_write_bytes(tmp_path / "a.png",
                                                                     np.arange(4, dtype=np.uint8)))
    files.atomic_write_bytes(tmp_path / "b.png", np.arange(4, dtype=np.uint8))
    assert (tmp_path / "b.png").read_bytes() == bytes(range(4))


def test_file_problem_words_a_missing_path_a_folder_and_a_broken_link(tmp_path):
    assert user_files.file_problem(tmp_path / "nope.png") == "no such file"
    assert user_files.file_problem(tmp_path) == user_files.not_a_file(tmp_path)
    assert "folder" in user_files.file_problem(tmp_path)
    (tmp_path / "link").symlink_to(tmp_path / "nope.png")
    assert user_files.file_problem(tmp_path / "link") == "a broken link"


@pytest.mark.parametrize("name", ["clicks.md", "click_scores.json"])
def test_the_click_reports_go_through_a_temporary(tmp_path, monkeypatch, name):
    monkeypatch.setattr(report, "click_tables", lambda result, labels: "")
    check_signal_keeps_earlier_file(monkeypatch, tmp_path / name, lambda: report.write_click_report(
        {"results": {}, "images": {}}, tmp_path))


class _Masks:
    output_mode = "binary_mask"

    def records(self, found):
        return [{"segmentation": np.ones((4, 4), bool), "area": 16}]


class _Found:
    rles = []


def test_samhq_amg_removes_an_images_masks_and_json_at_a_stop_in_its_overlay(tmp_path,
                                                                            monkeypatch):
    real = amg_command.write_png

    def ctrl_c_at_the_overlay(path, picture):
        if path.name.endswith("_overlay.png"):
            raise KeyboardInterrupt
        real(path, picture)

    monkeypatch.setattr(amg_command, "write_png", ctrl_c_at_the_overlay)
    with pytest.raises(KeyboardInterrupt):
        amg_command.write_image_result(tmp_path, tmp_path / "a.jpg", np.zeros((4, 4, 3), np.uint8),
                                       _Masks(), _Found(), run={})
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == []


def test_samhq_amg_writes_its_json_through_a_temporary(tmp_path, monkeypatch):
    monkeypatch.setattr(files, "os", _SignalAtRenameOf("a.json"))
    with pytest.raises(KeyboardInterrupt):
        amg_command.write_image_result(tmp_path, tmp_path / "a.jpg", np.zeros((4, 4, 3), np.uint8),
                                       _Masks(), _Found(), run={})
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == []


SHAPES = {"num_videos": 1, "num_frames": 2, "size": 16, "num_objects": 1}


class _SignalAtFolderRename:
    """`os` as write_once sees it, but renaming the written folder into place raises
    KeyboardInterrupt (a signal at the last step)."""

    def __getattr__(self, attr):
        return getattr(os, attr)

    def rename(self, src, dst):
        raise KeyboardInterrupt


def test_the_video_demos_set_and_marker_go_through_a_temporary(tmp_path, monkeypatch):
    monkeypatch.setattr(write_once, "os", _SignalAtFolderRename())
    root = tmp_path / "train"
    with pytest.raises(KeyboardInterrupt):
        moving_shapes.ensure_moving_shapes(root, **SHAPES)
    assert list(tmp_path.iterdir()) == []  # no root, no marker, no temporary


def test_a_marker_cut_short_writes_the_videos_again(tmp_path):
    (tmp_path / moving_shapes.MARKER).write_text('{"num_vid')
    moving_shapes.ensure_moving_shapes(tmp_path, **SHAPES)
    assert json.loads((tmp_path / moving_shapes.MARKER).read_text()) == SHAPES
    assert (tmp_path / "JPEGImages").is_dir()
