"""Generate the built-in demo dataset (normally made on first use).

    python scripts/make_demo_data.py [data.root=data/demo] [data.demo.num_train=64 ...]

Takes Hydra overrides of the ``data=demo`` config group.
"""

import sys
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.utils import to_absolute_path

from samhq_train.data import ensure_demo_data

CONF = Path(__file__).resolve().parents[1] / "conf"


def main(overrides: list[str]) -> None:
    with initialize_config_dir(str(CONF), version_base="1.3"):
        cfg = compose(overrides=["+data=demo", *overrides]).data
    root = ensure_demo_data(to_absolute_path(cfg.root), **cfg.demo)
    print(f"demo data ready in {root}")


if __name__ == "__main__":
    main(sys.argv[1:])
