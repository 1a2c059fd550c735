"""logger=wandb without a W&B login: one line before the data and the model (run/wandb_login.py),
read from the documented places only (WANDB_API_KEY, WANDB_MODE, logger offline, netrc)."""

import os
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from samhq_train.config_check import SetupError
from samhq_train.run.wandb_login import check_wandb_login
from tests.training.helpers import ROOT, SMALL

WANDB = {"_target_": "lightning.pytorch.loggers.WandbLogger", "offline": False}


@pytest.fixture
def no_login(tmp_path, monkeypatch):
    """No key anywhere: an empty home, no netrc, no W&B variables."""
    for name in ("WANDB_API_KEY", "WANDB_MODE", "WANDB_BASE_URL", "NETRC"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def cfg(**wandb):
    return OmegaConf.create({"logger": {"wandb": {**WANDB, **wandb}}})


def test_no_login_is_one_line_naming_the_fixes(no_login):
    with pytest.raises(SetupError) as err:
        check_wandb_login(cfg())
    line = str(err.value)
    assert "\n" not in line
    for fix in ("wandb login", "WANDB_API_KEY", "WANDB_MODE=offline", "logger.wandb.offline=true"):
        assert fix in line
    assert str(no_login / ".netrc") in line


@pytest.mark.parametrize(
    "variable, value",
    [("WANDB_API_KEY", "0123abcd"), ("WANDB_MODE", "offline"), ("WANDB_MODE", "disabled")],
)
def test_key_or_offline_mode_in_the_environment_passes(no_login, monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    check_wandb_login(cfg())


def test_logger_offline_passes(no_login):
    check_wandb_login(cfg(offline=True))


def test_netrc_key_for_the_wandb_host_passes(no_login, monkeypatch):
    netrc = no_login / ".netrc"
    netrc.write_text("machine example.org login user password other\n")
    netrc.chmod(0o600)
    with pytest.raises(SetupError):
        check_wandb_login(cfg())
    netrc.write_text("machine api.wandb.ai\n  login user\n  password 0123abcd\n")
    check_wandb_login(cfg())
    monkeypatch.setenv("WANDB_BASE_URL", "https://wandb.example.org")  # a local W&B server
    with pytest.raises(SetupError, match="wandb.example.org"):
        check_wandb_login(cfg())


def test_netrc_variable_names_the_file(no_login, monkeypatch):
    elsewhere = no_login / "keys" / "netrc"
    elsewhere.parent.mkdir()
    elsewhere.write_text("machine api.wandb.ai login user password 0123abcd\n")
    elsewhere.chmod(0o600)
    monkeypatch.setenv("NETRC", str(elsewhere))
    check_wandb_login(cfg())


def test_other_loggers_need_no_login(no_login):
    csv = {"_target_": "samhq_train.run.csv_logger.CSVRunLogger"}
    check_wandb_login(OmegaConf.create({"logger": {"csv": csv}}))


def test_train_command_refuses_before_the_data(no_login):
    pytest.importorskip("wandb")
    data = no_login / "data"
    result = subprocess.run(
        [sys.executable, "train.py", "logger=wandb", "model=vit_demo", "data.cache.enabled=false",
         f"hydra.run.dir={no_login}/run", *SMALL, f"data.root={data}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "HOME": str(no_login)},
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1].startswith("error: logger.wandb: no W&B login")
    assert "Traceback" not in result.stderr
    assert not data.exists(), "the demo data was generated before the check"
