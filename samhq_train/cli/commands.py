"""The installed commands' entry points (pyproject.toml [project.scripts] names these).

Each imports its command's module inside errors.exit_on_user_error, so that Ctrl-C or SIGTERM
while it loads (torch, Hydra, the model code: seconds) is the one `interrupted (SIGINT): ...`
line with exit 130 / 143, as a signal anywhere in the command is, not a KeyboardInterrupt
traceback. `python -m samhq_train.cli.<command>` starts the same way (run_as_main). This
module, samhq_train.cli and samhq_train.errors import nothing heavy.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable

from samhq_train.errors import exit_on_user_error


def _entry(module: str) -> Callable[[], int | None]:
    """The installed command that runs `module`'s main()."""

    def main() -> int | None:
        return importlib.import_module(module).main()

    main.__doc__ = f"{module}.main(), imported once a signal is one line."
    return exit_on_user_error(main)


def run_as_main(module: str) -> None:
    """`python -m <module>`: called by the module's `if __name__ == "__main__"`, which comes
    before its imports; the module is imported again under its own name and its main() run as
    the installed command runs it (a signal while it imports is the one line); exits with its
    status."""
    sys.exit(_entry(module)())


train = _entry("samhq_train.cli.train")
evaluate = _entry("samhq_train.cli.evaluate")
predict = _entry("samhq_train.cli.predict")
export = _entry("samhq_train.cli.export")
make_demo_data = _entry("samhq_train.cli.make_demo_data")
make_demo_base = _entry("samhq_train.cli.make_demo_base")
amg = _entry("samhq_train.inference.amg_command")
concept = _entry("samhq_train.inference.concept_command")
video = _entry("samhq_train.inference.video.command")
app = _entry("samhq_train.app.command")
video_eval = _entry("samhq_train.cli.video_eval")
video_concept_eval = _entry("samhq_train.cli.video_concept_eval")
