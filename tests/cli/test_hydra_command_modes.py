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
from tests.side_by_side import SideBySide
from tests.training.helpers import ROOT

MISSING_MODEL = "In 'train': Could not find 'model/vit_bb'; Available options in 'model': "
NOT_IN_STRUCT = (  # a key close to one of its node's is named (cli/key_typo.py)
    "optimizer.lrr: no such key; did you mean optimizer.lr? (+optimizer.lrr=1 would add it as a "
    "new key)"
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
         "'experiment/theirs'; Available options in 'experiment': concept_demo, "
         "concept_finetune, demo, finetune_decoder, finetune_lora, mine, paper"),
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


REFUSED = [
    (["model=vit_bb"], "config error: " + MISSING_MODEL),
    (["optimizer.lrr=1"], "config error: " + NOT_IN_STRUCT),
    (["-m", "model=vit_demo,vit_bb"], "config error: " + MISSING_MODEL),
    (["data=folder"], "error: dataset 'train': 'train/images' is relative but data.root is "
     "not set"),  # refused after the config checks: no "Seed set to" line before it
]


ONE_STREAM = {"stdout": subprocess.PIPE, "stderr": subprocess.STDOUT, "text": True, "timeout": 300}


@pytest.fixture(scope="module")
def train_runs(tmp_path_factory):
    """The train.py runs of this module, side by side (tests/side_by_side.py), each in its own
    folder (runs.folders): the refused command lines of REFUSED by index, and "no config path"."""
    runs = SideBySide()
    for index, (argv, _) in enumerate(REFUSED):
        folder = runs.folders[index] = tmp_path_factory.mktemp("refused")
        env = {"PATH": os.environ["PATH"], "HOME": str(folder)}  # a clean shell
        runs.start(index, [sys.executable, "train.py", *argv, f"hydra.sweep.dir={folder}/sweep",
                           f"hydra.run.dir={folder}/run"], cwd=ROOT, env=env, **ONE_STREAM)
    folder = runs.folders["no config path"] = tmp_path_factory.mktemp("no_config_path")
    runs.start("no config path", [sys.executable, "train.py", "--config-path",
                                  str(folder / "none"), f"hydra.run.dir={folder}/run"],
               cwd=ROOT, **ONE_STREAM)
    yield runs
    runs.close()


@pytest.mark.parametrize("index", range(len(REFUSED)),
                         ids=[f"argv{i}-{line}" for i, (_, line) in enumerate(REFUSED)])
def test_a_refused_run_prints_only_its_line_on_stdout_and_stderr(train_runs, index):
    result, line = train_runs.result(index), REFUSED[index][1]
    assert result.returncode == 2, result.stdout
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(line), result.stdout
    assert not (train_runs.folders[index] / "sweep").exists()


def hydra_task():
    """Stands for a command's @hydra.main function: a relative --config-path is placed from its
    module's package (tests.cli), as Hydra places it."""


@pytest.mark.parametrize(
    ("config_path", "message"),
    [
        ("{tmp}/none", "--config-path {tmp}/none: no such folder; give the folder that holds "
         "your config files"),
        ("{tmp}/empty", "--config-path {tmp}/empty holds no train.yaml (the config the command "
         "runs); give the folder that holds it, or its name with --config-name"),
        ("none", "--config-path none: Hydra reads a relative --config-path inside the command's "
         "package (pkg://tests.cli/none), which has no such folder"),
        ("{tmp}/empty/train.yaml", "--config-path {tmp}/empty/train.yaml: give the folder that "
         "holds the config, and its name with --config-name"),
    ],
)
def test_config_path_errors_are_one_config_error_line(tmp_path, config_path, message):
    (tmp_path / "empty").mkdir()
    argv = ["--config-path", config_path.format(tmp=tmp_path)]
    with pytest.raises(ConfigError) as err:
        check_command_line("train", argv, ("hydra.run.dir",), task_function=hydra_task)
    assert str(err.value).startswith(message.format(tmp=tmp_path)), str(err.value)
    assert "\n" not in str(err.value)


def test_a_config_path_replaces_the_package_configs(tmp_path):
    """The user's copy of the configs is composed in place of the package's: its own settings
    apply, and a key it lacks is refused in one line."""
    import shutil

    from samhq_train.config_defaults import CONFIG_DIR

    mine = tmp_path / "mine"
    shutil.copytree(CONFIG_DIR, mine)
    (mine / "train.yaml").write_text(
        (mine / "train.yaml").read_text() + "\nmy_setting: 3\n"
    )
    folders = ("hydra.run.dir",)
    argv = ["--config-path", str(mine), f"hydra.run.dir={tmp_path}/run", "my_setting=4"]
    assert check_command_line("train", argv, folders, task_function=hydra_task) == []
    with pytest.raises(ConfigError, match="Could not override 'my_setting'"):
        check_command_line("train", ["my_setting=4"], folders, task_function=hydra_task)


def test_train_with_a_missing_config_path_is_one_line(train_runs):
    result = train_runs.result("no config path")
    tmp_path = train_runs.folders["no config path"]
    assert result.returncode == 2, result.stdout
    assert result.stdout.strip().splitlines() == [
        f"config error: --config-path {tmp_path / 'none'}: no such folder; give the folder that "
        "holds your config files (--config-dir adds a folder to the package's configs instead)"
    ]


@pytest.mark.parametrize(
    "argv", [["debug=limt"], ["+debug=limt"], ["-m", "debug=limit,limt"]]
)
def test_a_misspelt_option_of_an_optional_group_is_refused(argv):
    """Hydra skips a missing option of an `optional` group (train.yaml's debug) in silence: a
    typo there would start the full run."""
    with pytest.raises(ConfigError) as err:
        check_command_line("train", argv, ("hydra.run.dir",))
    assert str(err.value) == (
        "In 'train': Could not find 'debug/limt'; Available options in 'debug': fdr, limit"
    )
    assert check_command_line("train", ["debug=limit"], ()) == []


def test_a_config_group_set_to_null_names_the_way_to_drop_it():
    with pytest.raises(ConfigError) as err:  # Hydra's own: a ValueError traceback
        check_command_line("train", ["debug=null"], ())
    assert str(err.value) == "debug=null: a config group takes one of its options (fdr, limit); " \
        "~debug drops it"
