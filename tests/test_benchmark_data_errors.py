"""scripts/benchmark_data.py (`benchmark.py data`, docs/speed.md) given an unknown flag or a
misspelt config override: one line and exit status 2 before any work (both were Hydra's
tracebacks, exit 1: its unknown flags went to Hydra as overrides)."""

import runpy
import sys

import pytest

from tests.script_modules import SCRIPTS


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--bogus", "3"], "benchmark_data.py: error: unrecognized arguments: --bogus (config "
                           "overrides such as data.demo.num_train=8 go without dashes)"),
        (["data.demo.num_trian=8"], "config error: data.demo.num_trian: no such key; did you "
                                    "mean data.demo.num_train? (+data.demo.num_trian=8 would "
                                    "add it as a new key)"),
    ],
    ids=["flag", "override"],
)
def test_a_bad_argument_is_one_line(monkeypatch, capsys, args, line):
    script = SCRIPTS / "benchmark_data.py"
    monkeypatch.setattr(sys, "argv", [str(script), "--steps", "0", *args])
    monkeypatch.syspath_prepend(str(SCRIPTS))
    with pytest.raises(SystemExit) as info:
        runpy.run_path(str(script), run_name="__main__")
    err = capsys.readouterr().err.strip().splitlines()
    assert info.value.code == 2 and err[-1].startswith(line), err
