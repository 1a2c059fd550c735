"""A setup error that every DDP process hits is said once, by rank 0 (the others exit 2
silently); a rank whose problem is its own (rank 0 did not stop, or with other words) still
says it. The ranks compare words through the process group's store or, before Lightning makes
the group, torchrun's agent store."""

import os
import subprocess
import sys
from datetime import timedelta

import pytest
import torch.distributed as dist

from samhq_train.data import ensure_demo_data
from samhq_train.distributed import report_once, says_setup_error
from samhq_train.errors import UserError
from tests.ddp_launch import fork_server, free_port, run_launch
from tests.training.helpers import ROOT
from tests.training.report_once_ranks import rank_process
from tests.training.test_ddp_small_eval_set import SETTINGS as SMALL_SET_SETTINGS

MISSING = "error: data.root=/data/hq not found: pass the folder that holds the data"


def test_rank_0_says_it_and_another_rank_only_what_rank_0_did_not():
    said = "data.root=/data/hq not found"
    assert says_setup_error(0, said, said)
    assert says_setup_error(0, said, None)
    assert not says_setup_error(1, said, said)
    assert says_setup_error(1, said, None)  # rank 0 did not stop: this rank's own problem
    assert says_setup_error(3, "cannot read /data/hq/0001.png", said)


@pytest.fixture(scope="module")
def ranks():
    """The fork server the ranks start from (tests/ddp_launch.fork_server), started before a test
    patches the environment; each rank gets the test's environment (rank_process's environ)."""
    return fork_server(rank_process.__module__)


def _run(ctx, tmp_path, words: list[str | None], with_group: bool, wait_s: float = 60.0
         ) -> list[str]:
    """What each rank printed, when rank r stops with words[r], each forked from `ctx`'s fork
    server in this process's environment (as a spawned one would be). `wait_s` is long where
    rank 0 does stop (the ranks start seconds apart on a loaded machine)."""
    run = tmp_path / f"run{len(list(tmp_path.glob('run*')))}"
    run.mkdir()
    files = [str(run / f"rank{r}.err") for r in range(len(words))]
    group = str(run / "group") if with_group else None
    environ = dict(os.environ)
    procs = [
        ctx.Process(target=rank_process, args=(r, len(words), w, files[r], group, wait_s, environ))
        for r, w in enumerate(words)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
        assert p.exitcode == 0
    return [open(f).read() for f in files]


@pytest.mark.parametrize("with_group", [True, False], ids=["process group", "torchrun store"])
def test_the_same_words_everywhere_are_said_once(ranks, tmp_path, monkeypatch, with_group):
    agent = None
    if not with_group:  # the store torchrun's agent holds for its workers
        port = free_port()
        agent = dist.TCPStore("127.0.0.1", port, is_master=True, wait_for_workers=False,
                              timeout=timedelta(seconds=30))
        monkeypatch.setenv("TORCHELASTIC_USE_AGENT_STORE", "True")
        monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
        monkeypatch.setenv("MASTER_PORT", str(port))
    words = MISSING.removeprefix("error: ")
    printed = _run(ranks, tmp_path, [words, words, words], with_group)
    assert printed == [MISSING + "\n", "", ""]
    if agent is not None:
        for key in ("samhq_train/setup_error/0", "samhq_train/setup_error_heard/1"):
            agent.delete_key(key)
    own = "cannot read /data/hq/0003.png: permission denied"
    printed = _run(ranks, tmp_path, [words, own, words], with_group)
    assert printed == [MISSING + "\n", f"error: {own}\n", ""]
    if agent is not None:
        for key in ("samhq_train/setup_error/0", "samhq_train/setup_error_heard/2"):
            agent.delete_key(key)
    # rank 0 goes on (it does not stop): rank 1's problem is its own, said after the wait
    printed = _run(ranks, tmp_path, [None, own], with_group, wait_s=2.0)
    assert printed == ["", f"error: {own}\n"]


def test_one_process_and_no_store_say_it_as_before(capsys, monkeypatch):
    report_once(UserError("model.checkpoint=/x.pth not found"))
    monkeypatch.setenv("WORLD_SIZE", "2")  # srun / Lightning's launch: no store to ask yet
    monkeypatch.setenv("RANK", "1")
    report_once(UserError("model.checkpoint=/x.pth not found"))
    assert capsys.readouterr().err == "error: model.checkpoint=/x.pth not found\n" * 2


@pytest.mark.slow
def test_torchrun_prints_a_bad_checkpoint_once(tmp_path):
    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--nproc-per-node=2",
        f"--master-port={free_port()}", "train.py", "trainer=ddp_sim",
        f"model.checkpoint={tmp_path / 'missing.pth'}", f"hydra.run.dir={out}",
        f"paths.output_dir={out}",
    ]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert lines == [f"error: model.checkpoint={tmp_path / 'missing.pth'} not found: "
                     "model.checkpoint takes the official SAM (or a SAM-HQ) weights file "
                     "training starts from"], result.stderr[-3000:]


@pytest.mark.slow
def test_a_refusal_every_lightning_process_makes_is_printed_once(tmp_path):
    """After Lightning's launch (the process group's store, hosted by rank 0): a validation set
    smaller than the process count is refused by both processes alike, said once."""
    data = ensure_demo_data(tmp_path / "data", num_train=8, num_val=1, height=96, width=128,
                            seed=0)
    out = tmp_path / "run"
    settings = [
        "data.demo.num_val=1" if s.startswith("data.demo.num_val") else s
        for s in SMALL_SET_SETTINGS if not s.startswith("data.val_sets")
    ]
    result = run_launch(
        [sys.executable, "train.py", "trainer=ddp_sim", f"hydra.run.dir={out}",
         f"paths.output_dir={out}", f"data.root={data}", *settings],
        cwd=ROOT, timeout=400,
    )
    assert result.returncode == 2, result.stderr[-3000:]
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "has 1 samples, fewer than the 2 processes" in lines[0], lines
