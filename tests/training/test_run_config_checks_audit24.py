"""run_config_checks: an unknown model.variant is one config-error line (ConfigValueError), not
family_of_variant's ValueError."""

import pytest
from omegaconf import OmegaConf

from samhq_train.errors import ConfigValueError
from samhq_train.training.run_config_checks import (
    FP32_WEIGHT_PRECISIONS,
    check_precision,
    run_family,
)


def test_an_unknown_variant_is_a_config_error():
    cfg = OmegaConf.create({"model": {"variant": "sam9_huge"}})
    with pytest.raises(ConfigValueError, match=r"^model.variant=sam9_huge: not a known variant$"):
        run_family(cfg, ("sam2",), "trains videos")


def test_an_unset_precision_is_32():
    cfg = OmegaConf.create({"trainer": {}})
    check_precision(cfg, FP32_WEIGHT_PRECISIONS, "use 32")
    with pytest.raises(ConfigValueError, match=r"^trainer.precision=32: use bf16-mixed$"):
        check_precision(cfg, ("bf16-mixed",), "use bf16-mixed")
