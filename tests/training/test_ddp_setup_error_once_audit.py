"""report_once where the process group's store lives in rank 0's process (tcp:// init, as
Lightning's env:// one): rank 0 waits for the other ranks to read its words before it exits,
so a rank that stops a little later still finds them and stays silent (mutation audit round 5:
without the wait, rank 0's exit takes the store with it and every rank prints)."""

import sys
import time

import torch.distributed as dist

from samhq_train import distributed
from samhq_train.errors import UserError
from tests.ddp_launch import fork_server, free_port

WORDS = "data.root=/data/hq not found: pass the folder that holds the data"


def _rank(rank: int, port: int, err_file: str, delay_s: float) -> None:
    distributed.REPORT_WAIT_S = 60.0
    sys.stderr = open(err_file, "w")
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=2)
    time.sleep(delay_s)
    distributed.report_once(UserError(WORDS))
    sys.stderr.close()


def test_rank_0_keeps_its_store_until_a_late_rank_has_read(tmp_path):
    ctx = fork_server(__name__)
    port = free_port()
    files = [str(tmp_path / f"rank{r}.err") for r in range(2)]
    procs = [ctx.Process(target=_rank, args=(r, port, files[r], 3.0 * r)) for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
    printed = [open(f).read() for f in files]
    assert printed == [f"error: {WORDS}\n", ""]


def test_without_torchruns_agent_store_no_store_is_looked_for(capsys, monkeypatch):
    """WORLD_SIZE > 1 with MASTER_ADDR / MASTER_PORT but not torchrun's agent store (srun,
    Lightning's own launch: the port belongs to the process group it has not made yet): each
    process says its error, even where a store at that port holds rank 0's same words."""
    from datetime import timedelta

    port = free_port()
    store = dist.TCPStore("127.0.0.1", port, is_master=True, wait_for_workers=False,
                          timeout=timedelta(seconds=10))
    store.set("samhq_train/setup_error/0", WORDS)
    monkeypatch.delenv("TORCHELASTIC_USE_AGENT_STORE", raising=False)
    for key, value in dict(WORLD_SIZE="2", RANK="1", MASTER_ADDR="127.0.0.1",
                           MASTER_PORT=str(port)).items():
        monkeypatch.setenv(key, value)
    distributed.report_once(UserError(WORDS))
    assert capsys.readouterr().err == f"error: {WORDS}\n"
