"""The installed commands (pyproject.toml [project.scripts]); each module's `main` is one.

    samhq-train            train.py          Hydra, conf/train.yaml (also `python train.py`)
    samhq-evaluate         evaluate.py       Hydra, conf/eval.yaml
    samhq-predict          predict.py        masks for prompts on images
    samhq-export           export.py         weights for other runtimes
    samhq-make-demo-data   make_demo_data.py the built-in demo dataset
    samhq-make-demo-base   make_demo_base.py the demo's base SAM (data/demo_base/)

A problem the user can fix is one `error:` line and exit status 2 (samhq_train.errors); a bug
keeps its traceback. The Hydra configs ship inside the package (CONFIG_DIR), so the commands
work from any directory.
"""

from samhq_train.config_defaults import CONFIG_DIR

__all__ = ["CONFIG_DIR"]
