"""The run's CSV logger: Lightning's, except that a resumed run continues the metrics.csv of its
run folder instead of deleting it.

Lightning's CSV writer removes an existing metrics.csv when it starts (a new run in an old
folder). A run resumed with ckpt_path into its own folder (the resume command sets
hydra.run.dir) must keep what the interrupted run logged: its rows stay, the resumed run's rows
follow, under one header (widened when new columns appear). Rows of steps after the checkpoint
(work a kill -9 threw away and the resumed run does again) stay too: the file is what ran.
"""

import csv
import os

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment


class ContinuingExperimentWriter(ExperimentWriter):
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
        if not self.resumed_from:
            return super().experiment
        self._fs.makedirs(self.root_dir, exist_ok=True)
        self._experiment = ContinuingExperimentWriter(log_dir=os.fspath(self.log_dir))
        return self._experiment


__all__ = ["ContinuingExperimentWriter", "CSVRunLogger"]
