"""scripts/<name>.py as a module, for the tests of the scripts' functions (scripts/ is no package;
loaded by path, never by name: `import benchmark` found onnxruntime's module of that name)."""

import importlib.util
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(f"{name}_script", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
