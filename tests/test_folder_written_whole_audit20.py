"""Mutation audit 20: atomic_write_folder makes the folders above its target (as a plain write
into a new folder would need them), its temporary beside the target."""

import os

from samhq_train.files import atomic_write_folder
from tests.test_folder_written_whole import OWN, write_two


def test_a_folder_under_missing_folders_is_written_and_they_are_made(tmp_path):
    path = atomic_write_folder(tmp_path / "a" / "b" / "out", write_two, replaces=OWN)
    assert sorted(os.listdir(path)) == ["a.json", "b.bin"]
    assert os.listdir(tmp_path / "a" / "b") == ["out"]
