"""Stopping a run is prompt and the way back is right: a signal in an in-fit validation writes
the checkpoint at the next validation batch and resumes bit-identically (validating again); a
signal in the cache build, a validation outside fit or the export stops at once and says what
was saved; the printed resume command continues in the same run folder (metrics.csv continued);
stale temporaries of an interrupted write are removed at the next start; train=false exports
nothing."""

import os
import shlex
import signal
import sys
import time

import lightning as L
import pytest
import torch

from samhq_train.train import train
from tests.ddp_launch import run_launch
from tests.training.helpers import assert_same_training_state, compose_cfg

SHORT = [
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=1.0",  # the whole epoch: 4 batches of 2
    "trainer.accelerator=cpu",
    "scheduler.step_size=1",
    "scheduler.gamma=0.5",
    "trainer.check_val_every_n_epoch=1",
    "data.val_batch_size=1",  # 2 validation batches: the signal comes in the first
    "validate_before_training=false",
    "export=false",
]



class SignalInValidation(L.Callback):
    """Sends this process `signal` when the in-fit validation of `epoch` starts its first batch
    (training, not sanity checking; under DDP only on global rank `rank` when given); counts the
    validation batches that still ran after it."""

    def __init__(self, epoch: int, signal: str = "SIGTERM", rank: int | None = None) -> None:
        self.epoch, self.signal, self.rank = epoch, signal, rank
        self.sent_at: float | None = None
        self.batches_after = 0

    def on_validation_batch_start(self, trainer, pl_module, batch, batch_idx, *args) -> None:
        fitting = trainer.state.fn == "fit" and not trainer.sanity_checking
        if self.sent_at is not None:
            self.batches_after += 1
        elif fitting and trainer.current_epoch == self.epoch and batch_idx == 0:
            if self.rank not in (None, trainer.global_rank):
                return
            self.sent_at = time.monotonic()
            os.kill(os.getpid(), signal.Signals[self.signal])


@pytest.mark.parametrize(
    ("signal_name", "workers", "val_every"),
    [("SIGTERM", 0, "1.0"), ("SIGINT", 1, "1.0"), ("SIGTERM", 0, "2")],
)
def test_a_signal_in_validation_stops_it_and_resumes_exactly(
    tmp_path, data_root, capsys, keep_handlers, monkeypatch, signal_name, workers, val_every
):
    """The checkpoint is written after the validation batch that was running (not after the
    whole validation); resuming validates again, then trains as the straight run. val_every 2:
    the validation in the middle of the epoch (after its 2nd of 4 batches)."""
    common = [*SHORT, f"data.num_workers={workers}", f"+trainer.val_check_interval={val_every}"]
    step = 4 if val_every == "1.0" else 2
    _, straight = train(compose_cfg(tmp_path / "straight", data_root, *common))
    sender = SignalInValidation(epoch=0, signal=signal_name)
    monkeypatch.setattr(
        "samhq_train.train.build_callbacks",
        _with_extra(sender),
    )
    with pytest.raises(SystemExit) as info:
        train(compose_cfg(tmp_path / "stopped", data_root, *common))
    assert info.value.code == {"SIGINT": 130, "SIGTERM": 143}[signal_name]
    assert {s: signal.getsignal(s) for s in keep_handlers} == keep_handlers
    assert sender.batches_after == 0  # the second validation batch never ran
    ckpt = (tmp_path / "stopped" / "checkpoints" / "interrupted.ckpt").resolve()
    err = capsys.readouterr().err
    assert (
        f"interrupted ({signal_name}) during the validation of epoch 0 at epoch 0, step {step}; "
        f"saved: a checkpoint of that position, {ckpt} (resuming runs that validation again)"
    ) in err
    assert not (tmp_path / "stopped" / "checkpoints" / "last.ckpt").exists()
    assert torch.load(ckpt, map_location="cpu", weights_only=True)["global_step"] == step
    monkeypatch.undo()
    _, resumed = train(compose_cfg(tmp_path / "resumed", data_root, *common, f"ckpt_path={ckpt}"))
    assert_same_training_state(straight, resumed)
    assert resumed["module"].val_results == straight["module"].val_results
    # epoch 0's validation ran again on resume: its best checkpoint exists as in the straight run
    names = sorted(p.name for p in (tmp_path / "straight" / "checkpoints").iterdir())
    assert sorted(p.name for p in (tmp_path / "resumed" / "checkpoints").iterdir()) == names


def _with_extra(callback):
    from samhq_train.run.callbacks import build_callbacks

    def build(cfg, has_val):
        return [*build_callbacks(cfg, has_val), callback]

    return build


QUICK = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=1",
    "trainer.limit_val_batches=1",
    "trainer.accelerator=cpu",
    "validate_before_training=false",
]


def _kill_self(name: str = "SIGTERM"):
    def send(*args, **kwargs):
        os.kill(os.getpid(), signal.Signals[name])
        raise AssertionError("the signal should have stopped the run")

    return send


def test_a_signal_in_the_export_stops_it_and_says_how_to_export(
    tmp_path, data_root, capsys, keep_handlers, monkeypatch
):
    from samhq_train.run import outputs

    monkeypatch.setattr(outputs, "export_model", _kill_self())
    with pytest.raises(SystemExit) as info:
        train(compose_cfg(tmp_path, data_root, *QUICK))
    assert info.value.code == 143
    last = (tmp_path / "checkpoints" / "last.ckpt").resolve()
    err = capsys.readouterr().err
    assert (
        "interrupted (SIGTERM) during the end-of-run export; training had finished; nothing new "
        f"was saved, the last checkpoint is {last}\nexport the checkpoint with samhq-export "
        f"--checkpoint {last} --to hq_only sam_hq --out <folder>"
    ) in err
    assert {s: signal.getsignal(s) for s in keep_handlers} == keep_handlers


def test_a_signal_in_the_cache_build_stops_it_at_once(
    tmp_path, data_root, capsys, keep_handlers, monkeypatch
):
    from samhq_train.cache.build import EmbeddingCache

    monkeypatch.setattr(EmbeddingCache, "_encode", _kill_self("SIGINT"))
    cache = ["data.cache.enabled=true", f"data.cache.dir={tmp_path / 'cache'}"]
    with pytest.raises(SystemExit) as info:
        train(compose_cfg(tmp_path / "run", data_root, *QUICK, *cache))
    assert info.value.code == 130
    err = capsys.readouterr().err
    assert (
        "interrupted (SIGINT) during the embedding cache build (entries written so far are "
        "kept), before any training: nothing to resume, run the same command again"
    ) in err
    assert not (tmp_path / "run" / "checkpoints").exists()
    assert not list((tmp_path / "cache").rglob("*.claim"))  # its claim was given back


def test_validate_only_writes_no_exports(tmp_path, data_root):
    train(compose_cfg(tmp_path / "trained", data_root, *QUICK, "export=false"))
    last = tmp_path / "trained" / "checkpoints" / "last.ckpt"
    out = tmp_path / "validated"
    (out / "export").mkdir(parents=True)
    (out / "export" / "sam_hq_vit_demo.pth").write_bytes(b"not ours")  # not refused: not written
    metrics, objects = train(
        compose_cfg(out, data_root, *QUICK, "train=false", f"ckpt_path={last}", "export=true")
    )
    assert objects["exports"] == {} and "after" in metrics
    assert [p.name for p in (out / "export").iterdir()] == ["sam_hq_vit_demo.pth"]


def test_stale_temporaries_of_our_writes_are_removed_at_the_next_start(
    tmp_path, data_root, caplog
):
    import logging

    out = tmp_path / "run"
    for folder in ("checkpoints", "export"):
        (out / folder).mkdir(parents=True)
    now = time.time()
    stale = [
        out / "checkpoints" / ".last.ckpt.k1ll3d00.tmp",  # atomic_write's name, cut by a kill
        out / "export" / ".sam_hq_vit_demo.pth.abcd1234.tmp",
    ]
    kept = [
        out / "checkpoints" / "notes.tmp",  # not atomic_write's name
        out / "checkpoints" / ".hidden",
        out / "checkpoints" / ".last.ckpt.writing1.tmp",  # written after the start: another writer
    ]
    for path in stale + kept:
        path.write_bytes(b"partial")
        age = -100 if path.name.startswith(".last.ckpt.writing") else 100
        os.utime(path, (now - age, now - age))
    caplog.set_level(logging.INFO, logger="samhq_train.run.temporaries")
    train(compose_cfg(out, data_root, "debug=fdr", "export=false"))
    assert not any(p.exists() for p in stale) and all(p.exists() for p in kept)
    assert "removed 2 temporary file(s) an interrupted write left:" in caplog.text


def test_cache_temporaries_are_stale_only_after_a_margin(tmp_path):
    from omegaconf import OmegaConf

    from samhq_train.run.temporaries import CACHE_WRITE_MARGIN_S, run_temporaries

    cache = tmp_path / "cache" / "store" / "ab"
    cache.mkdir(parents=True)
    now = time.time()
    old, young = cache / ".ab12.safetensors.aaaa.tmp", cache / ".ab34.safetensors.bbbb.tmp"
    for path, age in ((old, CACHE_WRITE_MARGIN_S + 30), (young, 5)):
        path.write_bytes(b"")
        os.utime(path, (now - age, now - age))
    cfg = OmegaConf.create(
        {
            "paths": {"output_dir": str(tmp_path / "run")},
            "data": {"cache": {"enabled": True, "dir": str(tmp_path / "cache")}},
        }
    )
    assert run_temporaries(cfg, now) == [old]  # the young one may be another builder's
    cfg.data.cache.enabled = False
    assert run_temporaries(cfg, now) == []


def test_the_printed_resume_command_continues_in_the_same_run_folder(
    tmp_path, data_root, capsys, keep_handlers, monkeypatch
):
    """Run the CLI as a user would (no hydra.run.dir: Hydra's dated folder), stop it with a
    signal, paste the printed command: the resumed run continues in the same folder and its
    metrics.csv keeps the interrupted run's rows."""
    from hydra.core.global_hydra import GlobalHydra

    from samhq_train.cli import train as cli
    from tests.training.helpers import SMALL, TINY

    monkeypatch.chdir(tmp_path)  # Hydra's dated run folders: ./outputs/<date>/<time>
    overrides = [
        f"data.root={data_root}",
        *SMALL,
        *TINY,
        "trainer.max_epochs=2",
        "trainer.limit_train_batches=3",
        "validate_before_training=false",
        "export=false",
        "hydra.job.chdir=false",
        "+callbacks.stop._target_=tests.training.helpers.SignalAt",
        "+callbacks.stop.step=4",
    ]
    monkeypatch.setattr(sys, "argv", ["train.py", *overrides])
    with pytest.raises(SystemExit) as info:
        cli.main()
    assert info.value.code == 130
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if x.startswith("resume with: "))
    words = shlex.split(line.removeprefix("resume with: "))
    assert words[:2] == ["python", "train.py"]
    run_dirs = [p for p in (tmp_path / "outputs").glob("*/*") if p.is_dir()]
    assert len(run_dirs) == 1
    run_dir = run_dirs[0].resolve()
    assert f"hydra.run.dir={run_dir}" in words and "hydra.job.chdir=false" in words
    assert f"ckpt_path={run_dir / 'checkpoints' / 'interrupted.ckpt'}" in words
    assert "hydra.output_subdir=.hydra/resumed-1" in words
    metrics = run_dir / "csv" / "metrics.csv"
    before = _rows(metrics)
    launch_record = (run_dir / ".hydra" / "overrides.yaml").read_text()

    GlobalHydra.instance().clear()
    time.sleep(1.1)  # a new dated folder would get another name
    monkeypatch.setattr(sys, "argv", words[1:])
    cli.main()
    assert [p.resolve() for p in (tmp_path / "outputs").glob("*/*") if p.is_dir()] == [run_dir]
    ckpt = torch.load(run_dir / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 6
    assert (run_dir / ".hydra" / "overrides.yaml").read_text() == launch_record  # kept
    assert "ckpt_path=" in (run_dir / ".hydra" / "resumed-1" / "overrides.yaml").read_text()
    after = _rows(metrics)
    assert after[: len(before)] == before and len(after) > len(before)  # continued
    assert max(int(r["step"]) for r in after) > max(int(r["step"]) for r in before)


def _rows(path) -> list[dict]:
    """The rows of a metrics.csv without their empty cells (a widened header adds some)."""
    import csv

    with open(path, newline="") as file:
        return [{k: v for k, v in row.items() if v != ""} for row in csv.DictReader(file)]


@pytest.mark.slow
def test_a_signal_to_one_ddp_process_in_validation_stops_both(tmp_path, data_root):
    """SIGTERM reaches rank 1 only, in a validation whose shards differ in length (3 images on
    2 processes): both stop after the first validation batch with one checkpoint, exit 143 (no
    hang in a collective only one of them reaches)."""

    from tests.training.helpers import ROOT, SMALL, TINY

    out = tmp_path / "run"
    command = [
        sys.executable, "train.py", "trainer=ddp_sim", f"hydra.run.dir={out}",
        f"paths.output_dir={out}", f"data.root={data_root}", *SMALL, *TINY, *SHORT,
        "data.demo.num_val=3", "callbacks.best_checkpoint=null",
        "+callbacks.sig._target_=tests.training.test_stopping.SignalInValidation",
        "+callbacks.sig.epoch=0", "+callbacks.sig.rank=1",
    ]
    result = run_launch(command, cwd=ROOT, timeout=600)
    assert result.returncode == 143, result.stderr[-3000:]
    ckpt = out / "checkpoints" / "interrupted.ckpt"
    ckpt = torch.load(ckpt, map_location="cpu", weights_only=True)
    assert ckpt["global_step"] == 2 and len(ckpt["rng_states"]) == 2
    assert "interrupted (SIGTERM) during the validation of epoch 0 at epoch 0, step 2" in (
        result.stderr
    )
