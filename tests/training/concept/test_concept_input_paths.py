"""A concept fine-tune given the wrong files: a SAM / SAM 2 checkpoint, data.root a file or
missing or one split's folder, an annotation file that is a folder. Each is one line saying what
to give instead, through train(cfg) as `python train.py` runs it, before any checkpoint is
written."""

import json

import pytest

from samhq_train.errors import UserError
from samhq_train.train import train
from tests.training.helpers import ROOT

from .concept_run import concept_cfg, concept_files  # noqa: F401 (fixture)

SAM2_FILE = ROOT / "data" / "demo_base" / "sam2.1_hq_hiera_demo_base.pt"


def refusal(tmp_path, files, *overrides) -> str:
    with pytest.raises(UserError) as err:
        train(concept_cfg(tmp_path / "run", files, *overrides))
    assert "\n" not in str(err.value)
    assert not (tmp_path / "run" / "checkpoints").exists()
    return str(err.value)


def test_a_sam2_checkpoint_is_refused_as_not_sam3(tmp_path, concept_files):  # noqa: F811
    message = refusal(tmp_path, concept_files, f"model.checkpoint={SAM2_FILE}")
    assert f"model.checkpoint={SAM2_FILE} holds a sam2.1_hq_hiera_demo model" in message
    assert "concept fine-tuning trains SAM 3's text detector" in message
    assert "model=sam2" not in message  # not the loader's hint: a SAM 2 run trains no detector


def test_data_root_a_file_or_missing(tmp_path, concept_files):  # noqa: F811
    json_file = concept_files["data"] / "train" / "_annotations.coco.json"
    message = refusal(tmp_path, concept_files, "data.concept_demo=null", f"data.root={json_file}")
    assert f"data.root={json_file} is a file" in message
    assert "data.train_annotation_file" in message
    missing = tmp_path / "nowhere"
    message = refusal(tmp_path, concept_files, "data.concept_demo=null", f"data.root={missing}")
    assert message == (f"data.root={missing} does not exist: give the folder holding train/ and "
                       "valid/ (each with _annotations.coco.json)")


def test_data_root_given_as_a_splits_folder(tmp_path, concept_files):  # noqa: F811
    split = concept_files["data"] / "train"
    message = refusal(tmp_path, concept_files, "data.concept_demo=null", f"data.root={split}")
    assert f"data.train_annotation_file={split / '_annotations.coco.json'}" in message


def test_an_annotation_file_that_is_a_folder(tmp_path, concept_files):  # noqa: F811
    split = concept_files["data"] / "train"
    assert json.loads((split / "_annotations.coco.json").read_text())["images"]
    message = refusal(tmp_path, concept_files, "data.concept_demo=null",
                      f"data.train_annotation_file={split}")
    assert f"data.train_annotation_file: {split} is a folder" in message
