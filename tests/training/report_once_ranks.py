"""The processes of the report_once tests (test_ddp_setup_error_once.py), in a module of their own:
the fork server they start from imports it once, and it imports only torch.distributed and
samhq_train.distributed (the test module's imports, the data package and Lightning among them,
took seconds more)."""

import os
import sys

import torch.distributed as dist

from samhq_train import distributed
from samhq_train.errors import UserError


def rank_process(
    rank: int, world: int, words: str | None, err_file: str, group: str | None, wait_s: float,
    environ: dict[str, str],
) -> None:
    """One process of a run, in the environment `environ`: joins the process group (`group`: its
    file store) or, without one, finds torchrun's agent store in its environment, then stops
    with `words` (None: it does not stop)."""
    os.environ.clear()
    os.environ.update(environ)
    distributed.REPORT_WAIT_S = wait_s
    sys.stderr = open(err_file, "w")
    if group is not None:
        dist.init_process_group("gloo", init_method=f"file://{group}", rank=rank,
                                world_size=world)
    else:
        os.environ.update(RANK=str(rank), WORLD_SIZE=str(world))
    if words is not None:
        distributed.report_once(UserError(words))
    sys.stderr.close()
