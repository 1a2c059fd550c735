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

Nothing is downloaded at run time: albumentations asks pypi.org for its latest version on import
(a 2 s network timeout where there is no network) unless NO_ALBUMENTATIONS_UPDATE is set, so the
commands set it before anything imports it (a value the user set is kept).
"""

import os

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")

from samhq_train.config_defaults import CONFIG_DIR  # noqa: E402

__all__ = ["CONFIG_DIR"]
