"""scripts/<name>.py as a module, for the tests of the scripts' functions (scripts/ is no package;
loaded by path, never by name: `import benchmark` found onnxruntime's module of that name), or run
as a script in the test's process."""

import importlib.util
import runpy
import sys
import warnings
from pathlib import Path

import torch

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_script", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_script_here(name: str, *args: str, capsys, monkeypatch) -> str:
    """`python scripts/<name>.py <args>` in this process: the file run as __main__ with that argv
    and scripts/ first on sys.path; its stdout returned, a non-zero exit fails. A fresh
    interpreter would add only its start-up (torch's import and the reference packages': most of
    the smoke tests' time). What a script changes of the process is put back: torch's thread
    count, warning filters, the modules it imported from scripts/ (benchmark.py: benchmark_data)."""
    path = SCRIPTS / f"{name}.py"
    monkeypatch.setattr(sys, "argv", [str(path), *args])
    monkeypatch.syspath_prepend(str(SCRIPTS))
    before, threads = set(sys.modules), torch.get_num_threads()
    try:
        with warnings.catch_warnings():
            runpy.run_path(str(path), run_name="__main__")
    except SystemExit as exit:
        assert exit.code in (None, 0), (exit.code, capsys.readouterr().err[-2000:])
    finally:
        torch.set_num_threads(threads)
        for module in set(sys.modules) - before:
            if Path(getattr(sys.modules[module], "__file__", None) or "/").parent == SCRIPTS:
                del sys.modules[module]
    return capsys.readouterr().out
