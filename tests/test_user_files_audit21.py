"""Audit 21: user_files' words for a path that is not what was asked, and frame_order's ties."""

import os

from samhq_train.user_files import file_problem, frame_order, not_a_file, not_a_folder


def test_a_broken_link_is_said_to_be_one_and_a_vanished_entry_gone(tmp_path):
    """not_a_file: a link to nothing is "a broken link"; an entry gone meanwhile is "gone".
    Mutant: the two words swapped."""
    link = tmp_path / "frame.png"
    os.symlink(tmp_path / "nowhere.png", link)
    assert not_a_file(link) == "a broken link"
    assert not_a_file(tmp_path / "never-there.png") == "gone"


def test_file_problem_tells_a_broken_link_from_no_file(tmp_path):
    """file_problem: a broken link is there (lexists), so it is named as one, not "no such file".
    Mutant: os.path.exists (follows the link) in its place."""
    link = tmp_path / "gt.json"
    os.symlink(tmp_path / "moved.json", link)
    assert file_problem(link) == "a broken link"
    assert file_problem(tmp_path / "absent.json") == "no such file"
    (tmp_path / "dir.json").mkdir()
    assert file_problem(tmp_path / "dir.json") == "a folder, not a file"


def test_not_a_folder_without_an_interrupted_write_says_only_not_found(tmp_path):
    assert not_a_folder(tmp_path / "none") == "folder not found"
    (tmp_path / "f").write_text("x")
    assert not_a_folder(tmp_path / "f") == "a file, not a folder"


def test_frame_order_sorts_numbers_as_numbers_before_names(tmp_path):
    """Numbered frames first in number order, then the others by name; 2 and 002 (one number
    written two ways) by name whatever order they were listed in."""
    names = ["b.jpg", "10.jpg", "002.jpg", "a.jpg", "2.jpg", "1.jpg"]
    for listed in (names, names[::-1]):
        ordered = sorted((tmp_path / n for n in listed), key=frame_order)
        assert [p.name for p in ordered] == ["1.jpg", "002.jpg", "2.jpg", "10.jpg", "a.jpg",
                                             "b.jpg"]


def test_a_superscript_digit_name_is_a_name_not_a_number(tmp_path):
    """'²'.isdigit() is true but int('²') fails: ASCII digits only are numbers."""
    ordered = sorted([tmp_path / "².png", tmp_path / "3.png"], key=frame_order)
    assert [p.name for p in ordered] == ["3.png", "².png"]
