"""The installed commands' entry points (pyproject.toml [project.scripts] names these).

Each imports its command's module inside errors.exit_on_user_error (errors.command_entry), so
that Ctrl-C or SIGTERM while it loads (torch, Hydra, the model code: seconds) is the one
`interrupted (SIGINT): ...` line with exit 130 / 143, as a signal anywhere in the command is, not
a KeyboardInterrupt traceback. `python -m <command module>` starts the same way
(errors.run_as_main). This module, samhq_train.cli and samhq_train.errors import nothing heavy.
"""

from __future__ import annotations

from samhq_train.errors import command_entry

train = command_entry("samhq_train.cli.train")
evaluate = command_entry("samhq_train.cli.evaluate")
predict = command_entry("samhq_train.cli.predict")
export = command_entry("samhq_train.cli.export")
make_demo_data = command_entry("samhq_train.cli.make_demo_data")
make_demo_base = command_entry("samhq_train.cli.make_demo_base")
amg = command_entry("samhq_train.inference.amg_command")
concept = command_entry("samhq_train.inference.concept_command")
video = command_entry("samhq_train.inference.video.command")
app = command_entry("samhq_train.app.command")
video_eval = command_entry("samhq_train.cli.video_eval")
video_concept_eval = command_entry("samhq_train.cli.video_concept_eval")
