"""Hydra's other ways in refuse a bad command line as the plain run does: one `config error:`
line and exit 2, before any job runs. --multirun composes every job of the sweep (Hydra's basic
sweeper does the same before launching) and checks hydra.sweep.dir; --config-dir adds the user's
folder to the search path as Hydra does. A refused run prints nothing else, on stdout either
(no Lightning tip, no log line)."""

import os
import subprocess
import sys

import pytest

from samhq_train.cli.hydra_command import check_command_line
from samhq_train.config_check import ConfigError
from samhq_train.output_check import OutputError
from tests.training.helpers import ROOT

MISSING_MODEL = "In 'train': Could not find 'model/vit_bb'; Available options in 'model': "
NOT_IN_STRUCT = (
    "Could not override 'optimizer.lrr'. To append to your config use +optimizer.lrr=1 (Key "
    "'lrr' is not in struct)"
)


@pytest.fixture
def config_dir(tmp_path):
    """A user's config folder with one experiment of its own."""
    (tmp_path / "conf" / "experiment").mkdir(parents=True)
    (tmp_path / "conf" / "experiment" / "mine.yaml").write_text(
        "# @package _global_\ndefaults:\n  - override /model: vit_tiny\noptimizer:\n  lr: 0.5\n"
    )
    return str(tmp_path / "conf")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["-m", "model=vit_bb"], MISSING_MODEL),
        (["--multirun", "optimizer.lrr=1"], NOT_IN_STRUCT),
        (["-m", "model=vit_demo,vit_bb"], MISSING_MODEL),  # a later job of the sweep
        (["-m", "model=glob(vit_demo*)", "optimizer.lrr=1"], NOT_IN_STRUCT),
        (["-m", "optimizer.lr=interval(0,1)"], "BasicSweeper does not support sweep type"),
        (["-m", "optimizer.lr=1,abc("], "the override 'optimizer.lr=1,abc(' is not valid Hydra "
         "syntax: "),
        (["--config-dir", "{conf}", "optimizer.lrr=1"], NOT_IN_STRUCT),
        (["--config-dir", "{conf}", "experiment=theirs"], "In 'train': Could not find "
         "'experiment/theirs'; Available options in 'experiment': demo, finetune_decoder, "
         "finetune_lora, mine, paper"),
        (["--config-dir", "{conf}/none", "experiment=mine"], "--config-dir {conf}/none: no such "
         "folder ({conf}/none); give the folder that holds your config files"),
    ],
)
def test_multirun_and_config_dir_errors_are_one_config_error_line(config_dir, argv, message):
    argv = [a.format(conf=config_dir) for a in argv]
    with pytest.raises(ConfigError) as err:
        check_command_line("train", argv, ("hydra.run.dir",))
    assert str(err.value).startswith(message.format(conf=config_dir)), str(err.value)
    assert "\n" not in str(err.value)


def test_good_sweeps_and_config_dirs_pass(config_dir, tmp_path):
    folders = ("hydra.run.dir", "paths.output_dir")
    sweep = ["-m", "model=glob(vit_t*)", "optimizer.lr=1e-3,1e-4", "seed=1,2"]
    assert check_command_line("train", sweep, folders) == []
    mine = ["--config-dir", config_dir, "experiment=mine"]
    assert check_command_line("train", mine, folders) == []
    with pytest.raises(ConfigError, match=r"^--multirun: the sweep makes no job \(a glob"):
        check_command_line("train", ["-m", "model=glob(nothing*)"], folders)
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match=f"^hydra.sweep.dir={tmp_path / 'f'} is a file"):
        check_command_line("train", ["-m", f"hydra.sweep.dir={tmp_path / 'f'}"], folders)


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["model=vit_bb"], "config error: " + MISSING_MODEL),
        (["optimizer.lrr=1"], "config error: " + NOT_IN_STRUCT),
        (["-m", "model=vit_demo,vit_bb"], "config error: " + MISSING_MODEL),
        (["data=folder"], "error: dataset 'train': 'train/images' is relative but data.root is "
         "not set"),  # refused after the config checks: no "Seed set to" line before it
    ],
)
def test_a_refused_run_prints_only_its_line_on_stdout_and_stderr(tmp_path, argv, line):
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}  # a clean shell
    result = subprocess.run(
        [sys.executable, "train.py", *argv, f"hydra.sweep.dir={tmp_path}/sweep",
         f"hydra.run.dir={tmp_path}/run"], cwd=ROOT,
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300,
    )
    assert result.returncode == 2, result.stdout
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(line), result.stdout
    assert not (tmp_path / "sweep").exists()
