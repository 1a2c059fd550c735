"""A set's annotation file that is there but cannot be read (a folder of its name, a broken link,
no read permission) is refused by the check stage's set_paths.check_set_file as what it is, not
said to be missing, nor found only when the json is read."""

import os

import pytest

from samhq_train.data import set_paths
from samhq_train.data.image_files import DataError
from samhq_train.data.set_paths import LAYOUT_HINT, check_set_file


def test_a_missing_file_is_not_found(tmp_path):
    path = tmp_path / "gt.json"
    with pytest.raises(DataError) as err:
        check_set_file(path, "annotation file", "coco")
    assert str(err.value) == f"coco: annotation file not found: {path}; {LAYOUT_HINT}"


@pytest.mark.parametrize("kind", ["folder", "broken-link"])
def test_a_folder_or_a_broken_link_is_said_as_what_it_is(tmp_path, kind):
    """Mutant: is_file alone (said to be not found)."""
    path = tmp_path / "gt.json"
    if kind == "folder":
        path.mkdir()
    else:
        path.symlink_to(tmp_path / "gone.json")
    what = "a folder, not a file" if kind == "folder" else "a broken link"
    with pytest.raises(DataError) as err:
        check_set_file(path, "annotation file", "coco")
    assert str(err.value) == (f"coco: annotation file {path} is {what}: give the file itself; "
                              f"{LAYOUT_HINT}")


def test_a_file_without_read_permission_is_refused(tmp_path, monkeypatch):
    """chmod 000; root reads it anyway, so there os.access is told to deny it. Mutant: is_file
    alone (passed, the json refused only when read)."""
    path = tmp_path / "gt.json"
    path.write_text("{}")
    path.chmod(0)
    if os.geteuid() == 0:
        monkeypatch.setattr(set_paths.os, "access",
                            lambda p, mode: not (p == path and mode == os.R_OK))
    with pytest.raises(DataError) as err:
        check_set_file(path, "annotation file", "coco")
    assert str(err.value) == (f"coco: annotation file {path} cannot be read (no read "
                              "permission): allow reading it (chmod a+r), or give a copy this "
                              "user may read")
    path.chmod(0o644)
    monkeypatch.undo()
    check_set_file(path, "annotation file", "coco")  # readable again: passes
