"""A package's names loaded on first use. `python -m samhq_train.<package>.<command>` imports the
package's __init__ before the command module's own `if __name__ == "__main__"` guard runs
(errors.run_as_main: Ctrl-C while loading is the one interrupted line); an __init__ that imported
its submodules (torch, the model code: seconds) would leave that time to a KeyboardInterrupt
traceback. So such a package names where each of its names lives, and this loads it when asked."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, homes: Mapping[str, str]) -> Callable[[str], Any]:
    """The module-level __getattr__ of `package`: name -> its submodule (relative, e.g. "server"
    or "concept_video.session"), imported on first use."""

    def __getattr__(name: str) -> Any:
        home = homes.get(name)
        if home is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{home}"), name)

    return __getattr__
