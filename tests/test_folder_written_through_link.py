"""files.atomic_write_folder where the folder's path is a symbolic link to a folder (an output kept
on another disk): the folder the link points to is replaced whole, the link kept, as a plain write
into the link would; a link to nothing is refused in one line naming it (writing would make its
target, maybe on a disk that is not mounted)."""

import os

import pytest

from samhq_train.files import BrokenLinkError, atomic_write_folder
from tests.signal_mid_write import check_signal_keeps_earlier_folder, folder_content
from tests.test_folder_written_whole import OWN, earlier, write_two


def test_the_folder_a_link_points_to_is_replaced_and_the_link_kept(tmp_path):
    real = earlier(tmp_path / "real")
    (tmp_path / "out").symlink_to(real, target_is_directory=True)
    path = atomic_write_folder(tmp_path / "out", write_two, replaces=OWN)
    assert path == tmp_path / "out" and path.is_symlink()
    assert os.readlink(path) == str(real)
    assert folder_content(real) == {"a.json": b"new a", "b.bin": b"new b", "notes.txt": b"mine"}
    assert sorted(os.listdir(tmp_path)) == ["out", "real"]


def test_a_link_to_an_empty_folder_elsewhere_gets_the_files(tmp_path):
    (tmp_path / "disk").mkdir()
    (tmp_path / "disk" / "real").mkdir()
    (tmp_path / "out").symlink_to(tmp_path / "disk" / "real")
    atomic_write_folder(tmp_path / "out", write_two, replaces=OWN)
    assert (tmp_path / "out").is_symlink()
    assert folder_content(tmp_path / "disk" / "real") == {"a.json": b"new a", "b.bin": b"new b"}
    assert os.listdir(tmp_path / "disk") == ["real"]


def test_a_signal_mid_write_through_a_link_keeps_the_earlier_folder(tmp_path, monkeypatch):
    real = earlier(tmp_path / "real")
    link = tmp_path / "out"
    link.symlink_to(real)
    check_signal_keeps_earlier_folder(
        monkeypatch, link, lambda: atomic_write_folder(link, write_two, replaces=OWN), "real"
    )
    assert link.is_symlink()


def test_a_link_to_nothing_is_refused_in_one_line(tmp_path):
    (tmp_path / "out").symlink_to(tmp_path / "unmounted" / "real")
    with pytest.raises(BrokenLinkError) as info:
        atomic_write_folder(tmp_path / "out", write_two, replaces=OWN)
    message = str(info.value)
    assert "\n" not in message and str(tmp_path / "out") in message
    assert str(tmp_path / "unmounted" / "real") in message
    assert os.listdir(tmp_path) == ["out"]
