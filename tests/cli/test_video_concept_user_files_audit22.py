"""Mutation audit 22: samhq-video-concept-eval --masks with several PNG values that concept.json
does not list names the smallest (the first found), not another; a concept.json listing no
object says so ("png_value none")."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from samhq_train.cli import video_concept_eval
from tests.evaluation.concept_video_data import write_veval_files


def _first_folder(files):
    return sorted(p for p in files["masks"].glob("*/*") if p.is_dir())[0]


def _refusal(files, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        video_concept_eval.main(["--gt", str(files["gt"]), "--masks", str(files["masks"])])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1, err
    return err[0]


def test_the_smallest_unlisted_value_is_named(tmp_path, capsys):
    files = write_veval_files(tmp_path / "veval")
    folder = _first_folder(files)
    frame = sorted(folder.glob("*.png"))[0]
    image = Image.open(frame)
    values = np.array(image)
    values[:2, :2], values[-2:, -2:] = 99, 77
    spoiled = Image.fromarray(values, "P")
    spoiled.putpalette(image.getpalette())
    spoiled.save(frame)
    assert "00000.png: value 77 is no object of " in _refusal(files, capsys)


def test_a_concept_json_without_objects_lists_none(tmp_path, capsys):
    files = write_veval_files(tmp_path / "veval")
    listing = _first_folder(files) / "concept.json"
    record = json.loads(listing.read_text())
    assert record["objects"]  # the folder's masks hold listed objects
    listing.write_text(json.dumps({**record, "objects": []}))
    assert "(png_value none): list the object there" in _refusal(files, capsys)
