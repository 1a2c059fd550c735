"""A run's loggers and callbacks, from the config (`logger`, `callbacks`) and what the run needs,
and the Lightning notices a run does not print."""

import contextlib
import logging
import warnings
from collections.abc import Iterator

import hydra
import lightning as L
from lightning_utilities.core import rank_zero as lightning_rank_zero

from samhq_train.config_check import SetupError, no_usable_validation_sample
from samhq_train.run.checks import check_loggers, configured_loggers
from samhq_train.run.progress import progress_callbacks


def build_loggers(cfg) -> list:
    """The configured loggers (check_loggers first)."""
    check_loggers(cfg)
    return [hydra.utils.instantiate(c) for c in configured_loggers(cfg).values()]


def build_callbacks(cfg, has_val: bool) -> list:
    """The configured callbacks (those monitoring a val/ metric are left out when nothing is
    validated) and, when stdout is not a terminal, the plain progress lines (run/progress.py)."""
    callbacks = [
        hydra.utils.instantiate(c)
        for c in (cfg.get("callbacks") or {}).values()
        if c and "_target_" in c and (has_val or not str(c.get("monitor") or "").startswith("val/"))
    ]
    enabled = bool(cfg.trainer.get("enable_progress_bar", True))
    return callbacks + progress_callbacks(enabled, callbacks)


class _NoLightningTips(logging.Filter):
    """Drops Lightning's "💡 Tip: ... try installing litlogger / litmodels" notices (logged
    whenever no LitLogger is used; Lightning has no option to turn them off)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("💡 Tip:")


@contextlib.contextmanager
def quiet_lightning_notices() -> Iterator[None]:
    """Around building the trainer and fitting: Lightning's install tips, and torch's FutureWarning
    "`isinstance(treespec, LeafSpec)` is deprecated" that Lightning's own CombinedLoader
    (lightning/pytorch/utilities/_pytree.py) triggers on every fit / validate, are not printed.
    Every other warning and log line is."""
    tips, logger = _NoLightningTips(), lightning_rank_zero.log
    logger.addFilter(tips)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore",
                message=r"`isinstance\(treespec, LeafSpec\)` is deprecated",
                category=FutureWarning,
                module=r"lightning\.pytorch\.utilities\._pytree",
            )
            yield
    finally:
        logger.removeFilter(tips)


class RequireValidationResults(L.Callback):
    """Stops the run, in one line, when a validation pass found no usable sample in a set (every
    sample skipped): training on silently without validation or best checkpoints is refused."""

    def __init__(self, val_names) -> None:
        self.val_names = list(val_names)

    def on_validation_end(self, trainer, pl_module) -> None:
        if trainer.sanity_checking:
            return
        fresh = pl_module.val_results_step == trainer.global_step
        empty = [n for n in self.val_names if not fresh or n not in pl_module.val_results]
        if empty:
            raise SetupError(no_usable_validation_sample(empty))


__all__ = [
    "RequireValidationResults",
    "build_callbacks",
    "build_loggers",
    "quiet_lightning_notices",
]
