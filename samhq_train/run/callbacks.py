"""A run's loggers and callbacks, from the config (`logger`, `callbacks`) and what the run needs."""

import importlib.util

import hydra
import lightning as L

from samhq_train.config_check import SetupError, no_usable_validation_sample

LOGGER_PACKAGES = {  # logger class -> (module it needs, the pip extra that installs it)
    "TensorBoardLogger": ("tensorboard", "tensorboard"),
    "WandbLogger": ("wandb", "wandb"),
}


def build_loggers(cfg) -> list:
    """The configured loggers; one line naming the pip extra when a logger's package is missing."""
    loggers = []
    for name, logger_cfg in (cfg.get("logger") or {}).items():
        if not logger_cfg or "_target_" not in logger_cfg:
            continue
        cls = logger_cfg._target_.rsplit(".", 1)[-1]
        module, extra = LOGGER_PACKAGES.get(cls, (None, None))
        if module and importlib.util.find_spec(module) is None:
            raise SetupError(f"logger={name} needs the {module} package: pip install '.[{extra}]'")
        loggers.append(hydra.utils.instantiate(logger_cfg))
    return loggers


def build_callbacks(cfg, has_val: bool) -> list:
    """The configured callbacks; those monitoring a val/ metric are left out when nothing is
    validated."""
    return [
        hydra.utils.instantiate(c)
        for c in (cfg.get("callbacks") or {}).values()
        if c and "_target_" in c and (has_val or not str(c.get("monitor") or "").startswith("val/"))
    ]


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


__all__ = ["LOGGER_PACKAGES", "RequireValidationResults", "build_callbacks", "build_loggers"]
