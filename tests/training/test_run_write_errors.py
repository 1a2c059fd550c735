"""reporting_full_disk around a run: a full disk or an unwritable place met by a writer outside
files.py (TensorBoard's event file, written by its own thread, re-raised bare: no file name) is
one line naming the file, else the logger's folder; any other OSError keeps its traceback."""

import errno
from types import SimpleNamespace

import pytest

from samhq_train.files import DiskFullError, NotWritableError
from samhq_train.training.resume import reporting_full_disk


def _trainer(tmp_path):
    return SimpleNamespace(checkpoint_callbacks=[], log_dir=str(tmp_path / "tensorboard"))


def test_a_full_disk_without_a_file_name_names_the_log_folder(tmp_path):
    with pytest.raises(DiskFullError) as info, reporting_full_disk(_trainer(tmp_path), None):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert str(info.value).startswith(
        f"no space left on the device writing {tmp_path / 'tensorboard'}: "
    )


def test_a_read_only_place_names_the_file(tmp_path):
    path = tmp_path / "events.out"
    with pytest.raises(NotWritableError) as info, reporting_full_disk(_trainer(tmp_path), None):
        raise OSError(errno.EROFS, "Read-only file system", str(path))
    assert str(info.value).startswith(f"cannot write {path}: read-only file system; ")


def test_other_os_errors_pass_unchanged(tmp_path):
    with pytest.raises(FileNotFoundError), reporting_full_disk(_trainer(tmp_path), None):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "x")
