"""samhq-make-demo-data [hydra overrides of data=demo]: generate the built-in demo dataset
(normally made on first use).

    samhq-make-demo-data [data.root=data/demo] [data.demo.num_train=64 ...]
"""

from samhq_train.errors import run_as_main

if __name__ == "__main__":  # python -m: started as the installed command (one line on Ctrl-C)
    run_as_main("samhq_train.cli.make_demo_data")

import sys

from hydra.utils import to_absolute_path

from samhq_train.cli.hydra_command import compose_checked
from samhq_train.data import ensure_demo_data
from samhq_train.errors import exit_on_user_error
from samhq_train.output_check import check_writable_folder


@exit_on_user_error
def main(overrides: list[str] | None = None) -> None:
    overrides = sys.argv[1:] if overrides is None else overrides
    if any(o in ("-h", "--help") for o in overrides):
        print(__doc__)
        return
    cfg = compose_checked(None, ["+data=demo", *overrides], hydra=False).data  # exit 2, one line
    root = to_absolute_path(cfg.root)
    check_writable_folder(root, "data.root", what="the demo data")  # a file, read-only: one line
    root = ensure_demo_data(root, **cfg.demo)
    print(f"demo data ready in {root}")
