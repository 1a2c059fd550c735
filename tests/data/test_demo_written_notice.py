"""The demo data config writes its synthetic set wherever data.root points: a user who gave
data.root for their own data but left data=demo learns where the synthetic set went and how to
train on their images (the log line of the write), and a folder of their files is refused
(write_once.check_generated_root), not trained on or written over."""

import logging

import pytest

from samhq_train.data.demo import ensure_demo_data
from samhq_train.data.image_files import DataError


def test_writing_the_demo_data_names_the_folder_and_the_own_data_config(tmp_path, caplog):
    root = tmp_path / "my_data"
    with caplog.at_level(logging.INFO, logger="samhq_train.data.demo"):
        ensure_demo_data(root, num_train=1, num_val=1, height=32, width=32)
    assert [r.getMessage() for r in caplog.records] == [
        f"wrote the synthetic demo data (1 train + 1 val images) to {root}; to train on your "
        "own images give data=folder data.root=/path/to/data (data/README.md)"
    ]


def test_a_folder_of_other_files_is_refused_naming_the_data_configs(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    (root / "a.jpg").write_bytes(b"mine")
    with pytest.raises(DataError) as refused:
        ensure_demo_data(root, num_train=1, num_val=1, height=32, width=32)
    assert str(refused.value) == (
        f"data.root={root} is not demo data made by samhq_train (it holds other files), and a "
        "demo data config writes its synthetic set there: to use these files give their "
        "data config (data=folder, data=coco or data=coco_concept; data/README.md shows the "
        "layouts), else point data.root at another folder"
    )
    assert [p.name for p in root.iterdir()] == ["a.jpg"]
