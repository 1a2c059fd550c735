"""SIGINT (Ctrl-C) or SIGTERM before a command's work (importing its modules, loading the model,
checking the config and data) is one line naming the command, with the shell's exit status for
the signal (130 / 143), never a traceback (errors.exit_on_user_error, the wrapper every command's
main passes through, and the entry points of cli/commands.py). Each command runs as a real
process, forked from a server that imported torch once (tests/fork_server.py); the signal is sent
when a marker file shows the command is at the point under test (the function there blocks until
the signal comes)."""

import ast
import os
import re
import signal
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from samhq_train.model import build_sam_hq, save_checkpoint
from tests.fork_server import ForkServer
from tests.test_scripts_smoke import console_scripts

# the main() of the `command` module run on argv, with `module.name` replaced by a function that
# writes the marker file and waits for the signal
SCRIPT = """
import importlib, pathlib, sys, time
sys.argv = {argv!r}
import {command} as command
def at_the_point(*args, **kwargs):
    pathlib.Path({marker!r}).touch()
    time.sleep(60)
setattr(importlib.import_module({module!r}), {name!r}, at_the_point)
command.main()
"""

# what the installed command runs (pip's script: `from module import function`,
# `sys.exit(function())`), with every samhq_train module but the entry point's own (and
# samhq_train, its packages, errors) importing slowly: the first such import writes the marker
# file and waits for the signal
SLOW_IMPORTS = """
import importlib.abc, pathlib, runpy, sys, time
class SlowImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "samhq_train" and name not in {light!r}:
            pathlib.Path({marker!r}).touch()
            time.sleep(60)
        return None
sys.meta_path.insert(0, SlowImport())
"""
IMPORT_SCRIPT = SLOW_IMPORTS + """
sys.argv = {argv!r}
from {module} import {function}
sys.exit({function}())
"""

# `python -m <module>` (runpy, as the interpreter's -m runs it), the imports slowed as above
MODULE_SCRIPT = SLOW_IMPORTS + """
sys.argv = ["-m"]
runpy.run_module({module!r}, run_name="__main__", alter_sys=True)
"""

SCRIPTS = console_scripts()
# the command modules `python -m` runs: those with an `if __name__ == "__main__"`
ROOT = Path(__file__).resolve().parents[2]
RUNNABLE = sorted(
    ".".join(path.relative_to(ROOT).with_suffix("").parts)
    for path in (ROOT / "samhq_train").rglob("*.py")
    if re.search(r'^if __name__ == "__main__":', path.read_text(), re.M)
)
PRELOAD = ("torch", "numpy", "hydra", "omegaconf")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    server = ForkServer(tmp_path_factory.mktemp("interrupt_server"), PRELOAD)
    yield server
    server.close()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("interrupt_inputs")
    weights = save_checkpoint(build_sam_hq("vit_demo", seed=0), folder / "tiny.safetensors",
                              "safetensors")
    image = folder / "a.png"
    cv2.imwrite(str(image), np.zeros((40, 50, 3), np.uint8))
    return weights, image


def interrupted_at(server, tmp_path, module, name, argv, signum, command=None) -> tuple[int, str]:
    """Run `command`.main() (default: `module`'s) on argv, send `signum` once it calls
    `module.name`; (exit status, stderr)."""
    marker = tmp_path / "at_the_point"
    script = SCRIPT.format(argv=[str(a) for a in argv], command=command or module,
                           module=module, name=name, marker=str(marker))
    return signalled(server, tmp_path, script, marker, signum)


def signalled(server, tmp_path, script, marker, signum) -> tuple[int, str]:
    """Run `script` in a child of the server, send `signum` once `marker` exists; (exit status,
    stderr)."""
    err = tmp_path / "stderr"
    pid = server.start(script, tmp_path, tmp_path / "stdout", err)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert time.monotonic() < deadline, err.read_text()
        time.sleep(0.05)
    os.kill(pid, signum)
    return server.wait(), err.read_text()


def one_line(status: int, err: str, expected_status: int, line: str) -> None:
    assert "Traceback" not in err, err
    assert status == expected_status, err
    assert err.strip().splitlines() == [line], err


def test_ctrl_c_while_samhq_predict_loads_the_model(server, tmp_path, inputs):
    weights, image = inputs
    argv = ["samhq-predict", image, "--checkpoint", weights, "--box", 1, 1, 20, 20,
            "--out", tmp_path / "out", "--device", "cpu"]
    status, err = interrupted_at(server, tmp_path, "samhq_train.cli.predict", "load_checkpoint",
                                 argv, signal.SIGINT)
    one_line(status, err, 130,
             "interrupted (SIGINT): samhq-predict stopped")
    assert not (tmp_path / "out").exists()


def test_sigterm_while_samhq_amg_loads_the_model(server, tmp_path, inputs):
    weights, image = inputs
    argv = ["samhq-amg", "--image", image, "--checkpoint", weights, "--out", tmp_path / "out"]
    status, err = interrupted_at(server, tmp_path, "samhq_train.inference.amg_command",
                                 "load_checkpoint", argv, signal.SIGTERM)
    one_line(status, err, 143,
             "interrupted (SIGTERM): samhq-amg stopped")


def test_ctrl_c_while_samhq_train_checks_its_inputs(server, tmp_path):
    """Before the run (its CheckpointOnInterrupt report): the config, data and output checks."""
    argv = ["samhq-train", f"paths.output_dir={tmp_path / 'run'}", f"data.root={tmp_path}"]
    status, err = interrupted_at(server, tmp_path, "samhq_train.cli.train", "check_inputs",
                                 argv, signal.SIGINT)
    one_line(status, err, 130,
             "interrupted (SIGINT): samhq-train stopped")


def test_ctrl_c_while_hydra_composes_the_run(server, tmp_path):
    """After the command line's check, before the run's own wrapper: Hydra composing again and
    making the run folder (hydra_command's main passes through exit_on_setup_error). Mutant:
    only check_command_line wrapped (a KeyboardInterrupt traceback, exit 1)."""
    argv = ["samhq-evaluate", "data=demo", f"output_dir={tmp_path / 'out'}"]
    status, err = interrupted_at(server, tmp_path, "hydra._internal.utils", "_run_app", argv,
                                 signal.SIGINT, command="samhq_train.cli.evaluate")
    one_line(status, err, 130, "interrupted (SIGINT): samhq-evaluate stopped")


def interrupted_importing(server, tmp_path, command, signum) -> tuple[int, str]:
    """Run the installed `command` (no arguments), send `signum` while it imports its modules;
    (exit status, stderr)."""
    module, function = SCRIPTS[command].split(":")
    marker = tmp_path / "at_the_point"
    script = IMPORT_SCRIPT.format(argv=[command], light=light_imports(module), marker=str(marker),
                                  module=module, function=function)
    return signalled(server, tmp_path, script, marker, signum)


@pytest.mark.parametrize("command", sorted(SCRIPTS))
def test_ctrl_c_while_a_command_imports_its_modules(server, tmp_path, command):
    """torch, Hydra, the model code: seconds before main() runs. The entry points
    (cli/commands.py) import the command's module inside exit_on_user_error. Mutant: an entry
    point naming the command's module (a KeyboardInterrupt traceback, exit -2)."""
    status, err = interrupted_importing(server, tmp_path, command, signal.SIGINT)
    one_line(status, err, 130, f"interrupted (SIGINT): {command} stopped")


def test_sigterm_while_samhq_video_imports_its_modules(server, tmp_path):
    status, err = interrupted_importing(server, tmp_path, "samhq-video", signal.SIGTERM)
    one_line(status, err, 143, "interrupted (SIGTERM): samhq-video stopped")


def light_imports(module: str) -> list[str]:
    """What `module` may import before a signal is one line: errors, its packages (which runpy
    imports before the module and its guard: so they load their names lazily, lazy_exports),
    itself. Mutant: a package's __init__ importing its submodules."""
    parts = module.split(".")
    return ["samhq_train.errors", "samhq_train.lazy_exports",
            *(".".join(parts[:i]) for i in range(1, len(parts) + 1))]


@pytest.mark.parametrize("module", RUNNABLE)
def test_ctrl_c_while_python_dash_m_imports_the_modules(server, tmp_path, module):
    """`python -m samhq_train.cli.train` starts as samhq-train does (errors.run_as_main, at the
    top of the module, before its imports). Mutant: the module's `if __name__ == "__main__":
    main()` at its end (a KeyboardInterrupt traceback)."""
    marker = tmp_path / "at_the_point"
    script = MODULE_SCRIPT.format(light=light_imports(module), marker=str(marker), module=module)
    status, err = signalled(server, tmp_path, script, marker, signal.SIGINT)
    one_line(status, err, 130, f"interrupted (SIGINT): {module.split('.')[-1]}.py stopped")


@pytest.mark.parametrize("module", RUNNABLE)
def test_every_command_module_run_by_python_dash_m_starts_as_its_command(module):
    """What the test above checks at run time, for each module: its first statement after the
    light imports (__future__, errors' run_as_main) is the __main__ guard calling
    run_as_main(itself). Mutant: a guard left at a module's end, or naming another module."""
    tree = ast.parse((ROOT / f"{module.replace('.', '/')}.py").read_text())
    light = ("__future__", "samhq_train.errors")
    body = [node for node in tree.body[1:]
            if not (isinstance(node, ast.ImportFrom) and node.module in light)]
    guard = ast.unparse(body[0])
    assert guard == f"if __name__ == '__main__':\n    run_as_main({module!r})", guard


def test_every_installed_command_runs_by_python_dash_m():
    """The console scripts' modules (cli/commands.py's command_entry calls) are RUNNABLE's: a
    command module without a `__main__` guard escapes the tests above."""
    tree = ast.parse((ROOT / "samhq_train" / "cli" / "commands.py").read_text())
    entries = sorted(node.args[0].value for node in ast.walk(tree) if isinstance(node, ast.Call)
                     and getattr(node.func, "id", "") == "command_entry")
    assert len(entries) == len(SCRIPTS)
    assert entries == RUNNABLE
