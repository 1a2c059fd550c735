"""The installed commands (pyproject.toml [project.scripts]); each module's `main` is one.

    samhq-train            train.py          Hydra, conf/train.yaml (also `python train.py`)
    samhq-evaluate         evaluate.py       Hydra, conf/eval.yaml
    samhq-predict          predict.py        masks for prompts on images
    samhq-export           export.py         weights for other runtimes
    samhq-make-demo-data   make_demo_data.py the built-in demo dataset
    samhq-make-demo-base   make_demo_base.py the demo's base SAM (data/demo_base/)

A problem the user can fix is one `error:` line and exit status 2 (samhq_train.errors); a bug
keeps its traceback. The Hydra configs ship inside the package (CONFIG_DIR), so the commands
work from any directory. The installed commands start in commands.py, which imports a command's
module only once a signal is one line (errors.exit_on_user_error); so this package imports
nothing heavy itself: CONFIG_DIR (config_defaults: Hydra, the model and data records) is
imported on first use.
"""

__all__ = ["CONFIG_DIR"]


def __getattr__(name: str):
    if name == "CONFIG_DIR":
        from samhq_train.config_defaults import CONFIG_DIR

        return CONFIG_DIR
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
