"""The run's CSV logger: Lightning's, except that a resumed run continues the metrics.csv of its
run folder instead of deleting it.

Lightning's CSV writer removes an existing metrics.csv when it starts (a new run in an old
folder). A run resumed with ckpt_path into its own folder (the resume command sets
hydra.run.dir) must keep what the interrupted run logged: its rows stay, the resumed run's rows
follow, under one header (widened when new columns appear). Rows of steps after the checkpoint
(work a kill -9 threw away and the resumed run does again) stay too: the file is what ran.

A full disk (or a size limit, a read-only place) while it writes is files.write_errors' one line
naming the file, and the files stay whole: hparams.yaml and a metrics.csv rewritten under a
wider header are written atomically, rows appended to metrics.csv are cut off again when the
append fails (Lightning's writer would leave them half-written).
"""

import csv
import os
from pathlib import Path

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment

from samhq_train.files import atomic_write, atomic_write_text, write_errors


class WholeFilesExperimentWriter(ExperimentWriter):
    """ExperimentWriter whose local files stay whole when a write fails (the module's docstring);
    a remote log_dir (a URL) is Lightning's."""

    def _local(self) -> bool:
        return "://" not in str(self.log_dir)

    def log_hparams(self, params: dict) -> None:
        if not self._local():
            return super().log_hparams(params)
        from lightning.pytorch.core.saving import save_hparams_to_yaml

        self.hparams.update(params)
        path = Path(self.log_dir) / self.NAME_HPARAMS_FILE
        atomic_write(path, lambda tmp: save_hparams_to_yaml(tmp, self.hparams))

    def save(self) -> None:
        if not self._local():
            return super().save()
        path = Path(self.metrics_file_path)
        size = path.stat().st_size if path.is_file() else None
        with write_errors(path):
            try:
                super().save()
            except BaseException:
                if size is not None and path.is_file() and path.stat().st_size > size:
                    os.truncate(path, size)  # the rows appended in part
                raise

    def _rewrite_with_new_header(self, fieldnames: list[str]) -> None:
        if not self._local():
            return super()._rewrite_with_new_header(fieldnames)
        with open(self.metrics_file_path, newline="") as file:
            rows = list(csv.DictReader(file))
        lines = _StringLines()
        writer = csv.DictWriter(lines, fieldnames=fieldnames)
        writer.writeheader()
        writer.writerows(rows)
        atomic_write_text(self.metrics_file_path, "".join(lines))


class _StringLines(list):
    """A file-like list of the lines csv.writer writes."""

    write = list.append


class ContinuingExperimentWriter(WholeFilesExperimentWriter):
    """ExperimentWriter that keeps an existing metrics.csv and appends to it."""

    def _check_log_dir_exists(self) -> None:
        if not self._fs.isfile(self.metrics_file_path):
            return
        with self._fs.open(self.metrics_file_path, "r", newline="") as file:
            header = next(csv.reader(file), [])
        self.metrics_keys = sorted(set(header))


class CSVRunLogger(CSVLogger):
    """CSVLogger; with `resumed_from` set (the run's ckpt_path), an existing metrics.csv in the
    log folder is continued, not replaced."""

    def __init__(self, *args, resumed_from: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.resumed_from = resumed_from

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is not None:
            return self._experiment
        writer = ContinuingExperimentWriter if self.resumed_from else WholeFilesExperimentWriter
        self._fs.makedirs(self.root_dir, exist_ok=True)
        self._experiment = writer(log_dir=os.fspath(self.log_dir))
        return self._experiment


__all__ = ["CSVRunLogger", "ContinuingExperimentWriter", "WholeFilesExperimentWriter"]
