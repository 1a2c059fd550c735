"""Mutation audit 22 of data/roots.check_data_sets as samhq-train's check stage calls it (before
Lightning is imported): every set of val_sets is checked too; data.demo lets a missing root be
written, refuses a root that is a file or holds other files, and takes its own demo data back;
lists that are not lists of sets are left to the datamodule."""

import pytest

from samhq_train.data.demo import ensure_demo_data
from samhq_train.data.image_files import DataError
from samhq_train.data.roots import check_data_sets

SET = {"name": "s", "image_dir": "train/images", "mask_dir": "train/masks"}
VAL = {"name": "v", "image_dir": "val/images", "mask_dir": "val/masks"}
TRAINING = ("train_sets", "val_sets")  # the lists samhq-train's check stage gives


def check_training_data(data):
    check_data_sets(data, TRAINING)


DEMO = {"num_train": 1, "num_val": 1, "height": 32, "width": 32, "seed": 0}


def _folders(root, *names):
    for name in names:
        (root / name).mkdir(parents=True)


def test_a_missing_val_set_folder_is_refused(tmp_path):
    _folders(tmp_path, "train/images", "train/masks", "val/images")
    check_training_data({"root": str(tmp_path), "train_sets": [SET], "val_sets": []})
    with pytest.raises(DataError, match=r"v: mask folder not found: .*val/masks"):
        check_training_data({"root": str(tmp_path), "train_sets": [SET], "val_sets": [VAL]})


def test_demo_data_may_be_written_to_a_missing_or_empty_root(tmp_path):
    check_training_data({"root": str(tmp_path / "new"), "demo": DEMO, "train_sets": [SET]})
    (tmp_path / "empty").mkdir()
    check_training_data({"root": str(tmp_path / "empty"), "demo": DEMO, "train_sets": [SET]})


def test_demo_data_already_written_is_taken_back(tmp_path):
    root = tmp_path / "demo"
    ensure_demo_data(root, num_train=1, num_val=1, height=32, width=32)
    check_training_data({"root": str(root), "demo": DEMO, "train_sets": [SET]})


def test_a_demo_root_that_is_a_file_or_holds_other_files_is_refused(tmp_path):
    a_file = tmp_path / "root.txt"
    a_file.write_text("x")
    with pytest.raises(DataError, match=r"root.txt is a file, not a folder"):
        check_training_data({"root": str(a_file), "demo": DEMO})
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "a.jpg").write_bytes(b"")
    with pytest.raises(DataError, match=r"is not demo data made by samhq_train"):
        check_training_data({"root": str(mine), "demo": DEMO})


def test_lists_that_are_not_lists_of_sets_are_left_to_the_datamodule(tmp_path):
    check_training_data({"root": str(tmp_path), "train_sets": ["not a set"], "val_sets": "x"})
    check_training_data({"root": str(tmp_path), "train_sets": 3, "val_sets": {"name": "v"}})
