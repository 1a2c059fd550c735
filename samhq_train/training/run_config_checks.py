"""What video and concept fine-tuning check alike in their config before anything heavy:
model.variant's family and trainer.precision, refused as every config key is (ConfigValueError,
the `config error:` line). Light on purpose, as both config_checks modules
(tests/cli/test_startup_imports.py)."""

from __future__ import annotations

from collections.abc import Collection

from samhq_train.errors import ConfigValueError
from samhq_train.model import family_of_variant

# fp32 weights: full precision or mixed (autocast)
FP32_WEIGHT_PRECISIONS = ("32", "32-true", "bf16-mixed", "16-mixed")


def run_family(cfg, families: Collection[str], needs: str) -> str:
    """The family of model.variant, one of `families`; else one line, `needs` saying what the run
    trains and which model= to give."""
    try:
        family = family_of_variant(cfg.model.variant).name
    except (KeyError, ValueError):
        raise ConfigValueError(f"model.variant={cfg.model.variant}: not a known variant") from None
    if family not in families:
        raise ConfigValueError(f"model.variant={cfg.model.variant}: {needs}")
    return family


def check_precision(cfg, accepted: Collection[str], use: str) -> None:
    """trainer.precision (default 32) one of `accepted`; else one line, `use` naming them."""
    precision = str(cfg.trainer.get("precision", "32"))
    if precision not in accepted:
        raise ConfigValueError(f"trainer.precision={precision}: {use}")
