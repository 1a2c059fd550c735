"""samhq-evaluate's SA-Co task: a coco.image_dir that is a file is refused saying so, in the
COCO tasks' line (it said "SA-Co image folder not found"); a missing one still says not found."""

import pytest

from samhq_train.evaluation.checks import read_saco_inputs
from samhq_train.evaluation.errors import EvaluationError

from .test_saco_gt_fields import saco_gt, write


def test_an_image_dir_that_is_a_file_is_said_to_be_one(tmp_path):
    path = write(tmp_path, saco_gt())
    with pytest.raises(EvaluationError) as info:
        read_saco_inputs([path], path, tmp_path / "no_bpe.txt.gz")
    assert str(info.value) == (f"coco.image_dir={path} is a file, not a folder; give the folder "
                               "that holds the json's images")
    with pytest.raises(EvaluationError, match="^SA-Co image folder not found: "):
        read_saco_inputs([path], tmp_path / "none", tmp_path / "no_bpe.txt.gz")
