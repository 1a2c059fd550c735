"""What a finished training run leaves: the results table, the end-of-run exports and the
closing report (where the outputs, the checkpoints and the exported files are)."""

import logging
import time
from pathlib import Path

from lightning.pytorch.utilities import rank_zero_only

from samhq_train.config_check import SetupError
from samhq_train.errors import UserError
from samhq_train.evaluation.report import NO_HQ_TOKEN, model_labels, results_tables
from samhq_train.inference.export import export_model
from samhq_train.model import TrainablePolicy
from samhq_train.run.checks import end_of_run_exports

log = logging.getLogger(__name__)


def result_rows(policy: str = "hq") -> dict[str, str]:
    """results key -> the row it gets in the table printed at the end: the untouched base SAM,
    SAM as the run left it (the same row for policy hq, which leaves SAM alone; see
    evaluation/baseline.py), before and after training."""
    sam = {k: label + NO_HQ_TOKEN for k, label in model_labels(policy).items() if k != "hq"}
    return {**sam, "before": "before training", "after": "after training"}


def export_run(model, out_dir: Path, policy: TrainablePolicy) -> dict[str, str]:
    """The run's end-of-run exports, written and read back by the same export code as
    samhq-export (never over existing files)."""
    paths = export_model(model, out_dir, end_of_run_exports(policy.name), policy=policy)
    return {k: str(v) for k, v in paths.items()}


def try_export_run(model, out_dir: Path, policy: TrainablePolicy):
    """(paths of the exported files, None), or ({}, the error) when the export failed: the
    results and the checkpoints are reported first (report_run_end)."""
    try:
        return export_run(model, out_dir, policy), None
    except Exception as err:  # noqa: BLE001 - raised again by report_run_end, after the results
        return {}, err


@rank_zero_only
def print_results(results: dict[str, dict], policy: TrainablePolicy | None = None) -> None:
    """The validation table: SAM (the base, and as the run left it), before and after training,
    per set (those the run has)."""
    rows = result_rows(policy.name if policy else "hq")
    rows = {row: results[key] for key, row in rows.items() if results.get(key)}
    table = results_tables(rows, first_column="validation")
    if table:
        print("\n" + table)


def report_run_end(
    output_dir: Path,
    last: Path | None,
    exports: dict[str, str],
    export_error: Exception | None,
    policy: TrainablePolicy,
    started: float,
) -> None:
    """Log where the outputs are; then a failed export: a user-fixable one (a file, the disk) as
    one line that says how to export the last checkpoint, any other raised as it came."""
    log.info("outputs in %s (%.0f s)", output_dir, time.time() - started)
    if last is not None:
        log.info("checkpoints in %s (last: %s)", last.parent, last.name)
    for kind, path in exports.items():
        log.info("exported %s: %s", kind, path)
    if export_error is None:
        return
    if not isinstance(export_error, UserError | OSError):
        raise export_error
    again = f"; {export_hint(last, policy)}" if last is not None else ""
    raise SetupError(
        f"the end-of-run export to {output_dir / 'export'} failed: {export_error}{again}"
    )


def export_hint(last: Path | None, policy: TrainablePolicy) -> str | None:
    """How to write the end-of-run exports from checkpoint `last` by hand (None without one)."""
    if last is None:
        return None
    return (
        f"export the checkpoint with samhq-export --checkpoint {last} "
        f"--to {' '.join(end_of_run_exports(policy.name))} --out <folder>"
    )


__all__ = [
    "export_hint",
    "export_run",
    "print_results",
    "report_run_end",
    "result_rows",
    "try_export_run",
]
