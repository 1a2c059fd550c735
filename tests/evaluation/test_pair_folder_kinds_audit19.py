"""Mutation audit 19: samhq-video-concept-eval --masks where a video x phrase pair's folder goes
holds a file: said to be a file to move away, not "no masks for video ..."."""

from pathlib import Path

import pytest

from samhq_train.evaluation.video.concept_inputs import ConceptGroundTruth, ConceptInputError
from samhq_train.evaluation.video.concept_masks import read_pair


def test_a_file_where_a_pairs_folder_goes_is_said_to_be_one(tmp_path):
    gt = ConceptGroundTruth(path=tmp_path / "gt.json", frames={1: 1}, sizes={1: (4, 4)},
                            file_names={1: ["sav_1/00000.jpg"]}, phrases={2: "cat"},
                            masklets=[], pairs=[(1, 2)])
    (tmp_path / "sav_1").mkdir()
    (tmp_path / "sav_1" / "2").write_text("not a folder")
    with pytest.raises(ConceptInputError) as err:
        read_pair(tmp_path, gt, 1, 2)
    assert str(err.value) == (
        f"--masks {Path(tmp_path, 'sav_1', '2')}: a file, not a folder; samhq-video "
        "--detect-every-frame writes a pair's masks into a folder of this name: move the file "
        "away")
