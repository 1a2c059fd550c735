"""The installed commands answer --help, and the helper scripts (benchmarks, parity check, demo
data) run end to end at tiny sizes."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.script_modules import run_script_here

ROOT = Path(__file__).resolve().parents[1]


def console_scripts() -> dict[str, str]:
    """pyproject.toml's [project.scripts]: command -> "module:function"."""
    text = (ROOT / "pyproject.toml").read_text()
    section = re.search(r"^\[project\.scripts\]\n(.*?)(?:^\[|\Z)", text, re.M | re.S).group(1)
    return dict(re.findall(r'^([\w-]+)\s*=\s*"([\w.]+:\w+)"', section, re.M))


def test_the_user_facing_commands_are_installed():
    assert set(console_scripts()) == {
        "samhq-train",
        "samhq-evaluate",
        "samhq-predict",
        "samhq-export",
        "samhq-make-demo-data",
        "samhq-make-demo-base",
        "samhq-amg",
        "samhq-concept",
        "samhq-app",
        "samhq-video-eval",
        "samhq-video-concept-eval",
        "samhq-video",
    }


# One process imports the third-party stack every command shares (torch alone is most of a
# command's start-up), then forks a child per command: each child imports its command's modules
# afresh, from its own folder outside the clone, with stdout and stderr in files there, and exits
# as `<command> --help` would. .ci/run starts each installed command in a process of its own.
HELP_RUNNER = """
import importlib, json, os, sys, traceback
import cv2, hydra, lightning, numpy, omegaconf, torch  # imported once, before the forks

codes = {}
for command, target, folder in json.loads(sys.argv[1]):
    pid = os.fork()
    if pid == 0:
        os.chdir(folder)
        for fd, name in ((1, "stdout"), (2, "stderr")):
            os.dup2(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC), fd)
        code = 0
        try:
            module, function = target.split(":")
            sys.argv = [command, "--help"]
            getattr(importlib.import_module(module), function)()
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else int(exit.code is not None)
            if isinstance(exit.code, str):
                print(exit.code, file=sys.stderr)
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    codes[command] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
print(json.dumps(codes))
"""


@pytest.fixture(scope="module")
def help_runs(tmp_path_factory):
    """`<command> --help` of every installed command, each from its own folder outside the
    clone: command -> CompletedProcess."""
    jobs = [
        (command, target, str(tmp_path_factory.mktemp("help")))
        for command, target in sorted(console_scripts().items())
    ]
    runner = subprocess.run(
        [sys.executable, "-c", HELP_RUNNER, json.dumps(jobs)],
        cwd=tmp_path_factory.mktemp("help_runner"),
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    assert runner.returncode == 0, runner.stderr[-2000:]
    codes = json.loads(runner.stdout.splitlines()[-1])
    return {
        command: subprocess.CompletedProcess(
            [command, "--help"],
            codes[command],
            (Path(folder) / "stdout").read_text(),
            (Path(folder) / "stderr").read_text(),
        )
        for command, _, folder in jobs
    }


@pytest.mark.parametrize("command", sorted(console_scripts()))
def test_each_command_answers_help_from_any_directory(command, help_runs):
    """What `pip install` puts on the PATH: `<command> --help` runs the entry point's function,
    here from a folder outside the clone (Hydra commands read the configs in the package)."""
    result = help_runs[command]
    assert result.returncode == 0, result.stderr[-2000:]
    assert command in result.stdout or "Powered by Hydra" in result.stdout, result.stdout[:2000]


@pytest.fixture
def demo_root(tmp_path, capsys, monkeypatch):
    root = tmp_path / "demo"
    out = run_script_here(
        "make_demo_data",
        f"data.root={root}",
        "data.demo.num_train=4",
        "data.demo.num_val=2",
        capsys=capsys,
        monkeypatch=monkeypatch,
    )
    assert f"demo data ready in {root}" in out
    assert len(list((root / "train" / "images").iterdir())) == 4
    return root


@pytest.mark.slow
def test_benchmark_data(demo_root, capsys, monkeypatch):
    out = run_script_here(
        "benchmark_data",
        f"data.root={demo_root}",
        "data.demo.num_train=4",
        "data.demo.num_val=2",
        "--variant",
        "vit_demo",
        "--steps",
        "1",
        "--batches",
        "2",
        "--workers",
        "0",
        "--epoch",
        capsys=capsys,
        monkeypatch=monkeypatch,
    )
    assert "samples/s" in out and "from the cache" in out


@pytest.mark.slow
def test_benchmark_metrics(capsys, monkeypatch):
    out = run_script_here(
        "benchmark",
        "metrics",
        "--size",
        "64",
        "--batch",
        "2",
        "--iters",
        "1",
        "--device",
        "cpu",
        capsys=capsys,
        monkeypatch=monkeypatch,
    )
    assert "images/s" in out


@pytest.mark.slow
def test_benchmark_concept(tmp_path, capsys, monkeypatch):
    out = run_script_here(
        "benchmark",
        "concept",
        "--variant",
        "sam3_hq_demo",
        "--size",
        "60",
        "80",
        "--iters",
        "1",
        "--warmup",
        "0",
        "--boxes",
        "2",
        "--json",
        str(tmp_path / "concept.json"),
        capsys=capsys,
        monkeypatch=monkeypatch,
    )
    assert "2 boxes refined" in out and "text encoder + detector" in out
    assert len(json.loads((tmp_path / "concept.json").read_text())["results"]) == 3


@pytest.mark.slow
def test_benchmark_models(capsys, monkeypatch):
    out = run_script_here(
        "benchmark",
        "--variant",
        "vit_demo",
        "--iters",
        "1",
        "--warmup",
        "0",
        "--boxes",
        "1",
        "--device",
        "cpu",
        "--epoch",
        "4",
        capsys=capsys,
        monkeypatch=monkeypatch,
    )
    assert "| samhq_train |" in out and "| official |" in out and "| transformers |" in out
    assert "one epoch of 4 demo images" in out and "from the cache" in out
    assert "| samhq_train, cached |" in out
    assert "training step, samhq_train vs official" in out


@pytest.mark.slow
def test_benchmark_sam2_family(capsys, monkeypatch):
    out = run_script_here(
        "benchmark",
        "--variant",
        "sam2.1_hq_hiera_demo",
        "--iters",
        "1",
        "--warmup",
        "0",
        "--boxes",
        "1",
        "--device",
        "cpu",
        capsys=capsys,
        monkeypatch=monkeypatch,
    )
    assert (
        "| samhq_train |" in out and "| samhq_train, cached |" in out and "| official |" not in out
    )


@pytest.mark.slow
def test_check_parity_reports_small_differences(capsys, monkeypatch):
    """On the Quickstart's variant (vit_demo_base, its shipped base): the script takes every SAM 1
    size the official code builds (it had refused vit_demo_base)."""
    out = run_script_here(
        "check_parity",
        "--variant",
        "vit_demo_base",
        "--checkpoint",
        str(ROOT / "data" / "demo_base" / "vit_demo_base.safetensors"),
        "--device",
        "cpu",
        capsys=capsys,
        monkeypatch=monkeypatch,
    )
    diffs = [
        float(line.split("max|diff|")[1].split(",")[0])
        for line in out.splitlines()
        if "max|diff|" in line
    ]
    assert len(diffs) == 4 and max(diffs) < 1e-4, out
