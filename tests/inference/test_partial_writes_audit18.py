"""Mutation audit 18: Ctrl-C while a result file is written leaves no part of it. samhq-video
writes each mask and overlay through a temporary (a save cut short leaves nothing under the
frame's name); samhq-concept removes every file of the interrupted image, its overlay too."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from samhq_train import files
from samhq_train.inference import concept_command
from samhq_train.inference.video import command
from tests.signal_mid_write import _SignalAtRenameOf


def _save_cut_short(self, fp, format=None, **params):  # a Ctrl-C in the middle of a save
    Path(fp).write_bytes(b"\x89PNG half")
    raise KeyboardInterrupt


@pytest.mark.parametrize("what", ["mask", "overlay"])
def test_samhq_video_leaves_no_half_written_file(tmp_path, monkeypatch, what):
    (tmp_path / "overlay").mkdir()
    monkeypatch.setattr(Image.Image, "save", _save_cut_short)
    with pytest.raises(KeyboardInterrupt):
        if what == "mask":
            command.write_mask(tmp_path, "00000", [1], torch.ones(1, 1, 8, 8))
        else:
            command.write_overlay(tmp_path, "00000", np.zeros((8, 8, 3), np.uint8), [1],
                                  np.ones((1, 8, 8), bool))
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == []


class _Found:
    masks = np.ones((1, 8, 8), bool)
    boxes = np.array([[0.0, 0.0, 8.0, 8.0]])
    scores = np.array([0.9])
    mask_scores = None

    def __len__(self):
        return 1


def test_samhq_concept_removes_the_overlay_written_as_ctrl_c_came(tmp_path, monkeypatch):
    real = concept_command.write_png

    def ctrl_c_once_the_overlay_is_written(path, picture):
        real(path, picture)
        if path.name.endswith("_overlay.png"):
            raise KeyboardInterrupt

    monkeypatch.setattr(concept_command, "write_png", ctrl_c_once_the_overlay_is_written)
    with pytest.raises(KeyboardInterrupt):
        concept_command.write_result(tmp_path, "a", "a.png", np.zeros((8, 8, 3), np.uint8),
                                     {"text": "cat"}, _Found(), None)
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == []


def test_samhq_concept_writes_its_json_through_a_temporary(tmp_path, monkeypatch):
    # a hard stop while the json is written (SIGKILL, a full disk) cannot tear it: the signal
    # here comes at the temporary's rename, which a json written in place never reaches
    monkeypatch.setattr(files, "os", _SignalAtRenameOf("a.json"))
    with pytest.raises(KeyboardInterrupt):
        concept_command.write_result(tmp_path, "a", "a.png", np.zeros((8, 8, 3), np.uint8),
                                     {"text": "cat"}, _Found(), None)
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == []
