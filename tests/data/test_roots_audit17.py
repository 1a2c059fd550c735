"""data/roots.py check_set_paths leaves a set entry without the key that names it (a folder
set's image_dir, a COCO set's annotation_file) to build_source, which names the missing key:
it had raised an AttributeError traceback from samhq-evaluate's check stage. Audit 17."""

import pytest

from samhq_train.data.datasets import build_source
from samhq_train.data.image_files import DataError
from samhq_train.data.roots import check_set_paths


@pytest.mark.parametrize(
    ("spec", "missing"),
    [({"mask_dir": "m"}, "['image_dir']"),
     ({"type": "coco", "image_dir": "i"}, "['annotation_file']")],
    ids=["folder", "coco"],
)
def test_an_entry_without_its_naming_key_is_left_to_build_source(tmp_path, spec, missing):
    check_set_paths(spec, tmp_path)
    with pytest.raises(DataError, match=rf"missing key\(s\) {missing}".replace("[", r"\[")):
        build_source(spec, tmp_path)


def test_the_demo_root_may_be_absent_but_not_a_file(tmp_path):
    """written_on_first_use (the demo data): an absent root passes. Mutant: refused as not
    found like any data.root."""
    from samhq_train.data.roots import check_data_root

    check_data_root(tmp_path / "absent", written_on_first_use=True)
    (tmp_path / "f").write_text("")
    with pytest.raises(DataError, match=r"is a file, not a folder"):
        check_data_root(tmp_path / "f", written_on_first_use=True)
