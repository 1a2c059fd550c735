"""samhq-train's check stage for a concept run (data/concept_files.check_concept_data): the files
of data=coco_concept are there; experiment=concept_demo's root, written on first use, is one the
demo may write: not a folder of the user's own files."""

import pytest
from omegaconf import OmegaConf

from samhq_train.data.concept_files import check_concept_data
from samhq_train.data.demo_concepts import ensure_concept_demo
from samhq_train.data.image_files import DataError
from samhq_train.errors import ConfigValueError

DEMO = {"num_train": 2, "num_val": 2, "size": 64, "seed": 0}


def _data(root, **settings):
    return OmegaConf.create({"root": str(root), "train_split": "train", "val_split": "val",
                             **settings})


def test_the_demos_root_may_be_new_or_its_own(tmp_path):
    check_concept_data(_data(tmp_path / "new", concept_demo=DEMO))  # written on first use
    written = ensure_concept_demo(tmp_path / "demo", **DEMO)
    check_concept_data(_data(written, concept_demo=DEMO))
    check_concept_data(_data(written))  # as a COCO export: its jsons are there


def test_the_demo_at_the_users_files_is_refused(tmp_path):
    """Mutant: the demo's root left to the run (refused only after Lightning's import)."""
    (tmp_path / "mine.jpg").write_bytes(b"")
    with pytest.raises(DataError, match=rf"^data.root={tmp_path} is not demo data made by "):
        check_concept_data(_data(tmp_path, concept_demo=DEMO))


def test_a_missing_export_is_refused(tmp_path):
    with pytest.raises(ConfigValueError, match=rf"^data.root={tmp_path}/x does not exist"):
        check_concept_data(_data(tmp_path / "x"))
