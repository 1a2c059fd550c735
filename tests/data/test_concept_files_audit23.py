"""Mutation audit (round 23) of data/concept_files.py: a Roboflow export without a validation
split has no validation files (not a refusal), and the "data.root holds the json itself" hint is
given only when it does."""

import pytest
from omegaconf import OmegaConf

from samhq_train.data.concept_files import data_files
from samhq_train.data.demo_concepts import ANNOTATIONS
from samhq_train.errors import ConfigValueError


def _data(root):
    return OmegaConf.create({"root": str(root), "train_split": "train", "val_split": "valid"})


def _split(folder):
    folder.mkdir(parents=True)
    (folder / ANNOTATIONS).write_text("{}")
    return folder


def test_an_export_without_a_validation_split_has_no_validation_files(tmp_path):
    train = _split(tmp_path / "train")
    files = data_files(_data(tmp_path))
    assert files.train_annotation_file == train / ANNOTATIONS and files.train_image_dir == train
    assert files.val_annotation_file is None and files.val_image_dir is None


def test_the_hint_for_a_split_given_as_root_only_when_it_holds_the_json(tmp_path):
    train = _split(tmp_path / "export" / "train")
    with pytest.raises(ConfigValueError, match="holds _annotations.coco.json itself: "
                       f"give the folder above it, or data.train_annotation_file={train}"):
        data_files(_data(train))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigValueError) as missing:
        data_files(_data(tmp_path / "empty"))
    assert str(missing.value) == (f"data.root: {tmp_path}/empty/train/{ANNOTATIONS} does not "
                                  "exist (a COCO json)")


def test_an_image_dir_that_is_not_a_folder_is_refused(tmp_path):
    json_file = _split(tmp_path / "train") / ANNOTATIONS
    data = OmegaConf.create({"train_annotation_file": str(json_file),
                             "train_image_dir": str(tmp_path / "nowhere")})
    with pytest.raises(ConfigValueError,
                       match=rf"^data.train_image_dir: {tmp_path}/nowhere is not a folder$"):
        data_files(data)
    data.train_image_dir = str(tmp_path / "train")
    assert data_files(data).train_image_dir == tmp_path / "train"
