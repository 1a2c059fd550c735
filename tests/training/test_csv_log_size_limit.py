"""The run's CSV log when its disk fills (a file size limit set in this process for a moment:
the kernel's EFBIG, no root needed): one line naming the file (DiskFullError), and metrics.csv /
hparams.yaml stay whole: rows appended in part are cut off, a rewrite under a wider header
keeps the earlier file, hparams.yaml is never left half-written."""

import contextlib
import os
import resource
import signal

import pytest

from samhq_train.files import DiskFullError
from samhq_train.run.csv_logger import CSVRunLogger


@contextlib.contextmanager
def file_size_limit(limit: int):
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


@pytest.fixture
def writer(tmp_path):
    logger = CSVRunLogger(save_dir=tmp_path, name="csv", version="")
    writer = logger.experiment
    writer.log_metrics({"loss": 1.0}, step=0)
    writer.save()
    return writer


def test_rows_appended_in_part_are_cut_off(writer):
    path = writer.metrics_file_path
    before = open(path, "rb").read()
    for step in range(1, 200):
        writer.log_metrics({"loss": 0.5}, step=step)
    with file_size_limit(len(before) + 30), pytest.raises(DiskFullError) as info:
        writer.save()
    assert str(info.value).startswith(f"the file outgrew the size limit for files writing {path}")
    assert open(path, "rb").read() == before
    assert os.listdir(os.path.dirname(path)) == ["metrics.csv"]


def test_a_rewrite_under_a_wider_header_keeps_the_earlier_file(writer):
    path = writer.metrics_file_path
    for step in range(1, 50):
        writer.log_metrics({"loss": 0.5}, step=step)
    writer.save()
    before = open(path, "rb").read()
    writer.log_metrics({"loss": 0.5, "val_iou": 0.25}, step=50)
    with file_size_limit(len(before) + 30), pytest.raises(DiskFullError):
        writer.save()
    assert open(path, "rb").read() == before
    assert os.listdir(os.path.dirname(path)) == ["metrics.csv"]


def test_hparams_are_written_whole_or_not_at_all(writer):
    with file_size_limit(100), pytest.raises(DiskFullError) as info:
        writer.log_hparams({f"key_{i}": "value" * 10 for i in range(20)})
    assert "hparams.yaml" in str(info.value)
    assert os.listdir(os.path.dirname(writer.metrics_file_path)) == ["metrics.csv"]
