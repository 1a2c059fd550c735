"""trainer.devices on the CPU: what Lightning's CPU accelerator refuses (GPU indices, -1, "0") is
one config line before the data and the model (it was a traceback at the trainer's creation)."""

import pytest

from samhq_train.config_check import ConfigError, check_config
from tests.training.helpers import compose_cfg


@pytest.mark.parametrize("devices", ["[0]", "[0,1]", "-1", "'0'", "'1,2'"])
def test_devices_the_cpu_cannot_take_are_one_config_line(tmp_path, devices):
    cfg = compose_cfg(tmp_path, tmp_path, f"trainer.devices={devices}", small=False)
    with pytest.raises(ConfigError, match=r"^trainer\.devices=.*: expected a number of CPU "
                       r"processes >= 1 or auto \(GPU indices and -1 need a GPU\)$"):
        check_config(cfg)


@pytest.mark.parametrize("devices", ["1", "2", "'2'", "auto"])
def test_cpu_process_counts_pass(tmp_path, devices):
    check_config(compose_cfg(tmp_path, tmp_path, f"trainer.devices={devices}", small=False))
