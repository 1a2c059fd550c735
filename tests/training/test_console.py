"""What a run prints into a log (stdout piped): plain progress lines for training and validation,
and none of the known-harmless notices (Lightning's LeafSpec FutureWarning and install tips,
`weights_only was not set` on Ctrl+C, the ONNX exporter's aten::index warning), while other
warnings still show."""

import logging
import os
import re
import subprocess
import sys
import types
import warnings

import pytest

from samhq_train.inference.onnx_decoder_export import export_onnx
from samhq_train.model import build_sam_hq
from samhq_train.progress import INTERVAL_ENV
from samhq_train.run.callbacks import quiet_lightning_notices
from tests.training.helpers import ROOT, SMALL, TINY

TRAIN_LINE = re.compile(
    r"^train: epoch (?P<epoch>\d)/1 (?P<end>done, )?step (?P<step>\d+)/4 \(\d+%\) \| "
    r"[\d.e+]+ samples/s \| loss \d+\.\d{4}( \(epoch mean\))? \| elapsed \d+s( \| ETA \d+s)?$"
)
VAL_LINE = re.compile(
    r"^validate demo-val: (?P<done>\d)/2 img \(\d+%\) \| [\d.e+]+ img/s( \| val/\S+ \d\.\d{4})*"
    r" \| elapsed \d+s( \| ETA \d+s)?$"
)
KNOWN_NOTICES = ["LeafSpec", "Tip:", "litlogger", "weights_only", "aten::index", "Warning"]


@pytest.fixture(scope="module")
def piped_run(tmp_path_factory):
    """python train.py on the tiny model, 2 epochs x 2 steps, stdout and stderr piped, a line at
    every step; SIGINT in epoch 1 (as Ctrl+C) so that the interrupt path prints too."""
    out = tmp_path_factory.mktemp("piped")
    command = [
        sys.executable,
        "train.py",
        f"hydra.run.dir={out}",
        f"data.root={out}/data",
        *[s for s in SMALL if "enable_progress_bar" not in s],
        *TINY,
        "trainer.max_epochs=2",
        "trainer.limit_train_batches=2",
        "trainer.check_val_every_n_epoch=1",
        "export=false",
        "+callbacks.stop._target_=tests.training.helpers.SignalAt",
        "+callbacks.stop.step=2",
    ]
    env = dict(os.environ, **{INTERVAL_ENV: "0"})
    env.pop("PYTHONWARNINGS", None)
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 130, done.stderr[-3000:]
    return done


def test_a_piped_run_prints_training_and_validation_progress(piped_run):
    out = piped_run.stdout.splitlines()
    train = [TRAIN_LINE.match(line) for line in out if line.startswith("train: ")]
    assert train and all(train), [line for line in out if line.startswith("train: ")]
    steps = [(m["epoch"], m["step"], bool(m["end"])) for m in train]
    # every step (interval 0) and epoch 0's end; SIGINT stops at the end of epoch 1's first step,
    # which the interrupt report names (the interrupt callback runs before the progress line)
    assert steps == [("0", "1", False), ("0", "2", False), ("0", "2", True)]
    validate = [VAL_LINE.match(line) for line in out if line.startswith("validate ")]
    assert validate and all(validate), [line for line in out if line.startswith("validate ")]
    # before training and after epoch 0, one batch each: its closing line, with the metrics
    assert [m["done"] for m in validate] == ["2", "2"]
    assert all("val/mIoU" in m[0] for m in validate)
    assert "interrupted (SIGINT) during training at epoch 1, step 3" in piped_run.stderr


def test_a_run_prints_none_of_the_known_notices(piped_run):
    console = piped_run.stdout + piped_run.stderr
    found = [notice for notice in KNOWN_NOTICES if notice in console]
    assert not found, console[-3000:]
    assert "\r" not in console  # no live bar redrawn into the log


def test_the_notice_filters_are_narrow(caplog):
    from lightning_utilities.core import rank_zero

    pytree = "lightning.pytorch.utilities._pytree"
    leaf = "`isinstance(treespec, LeafSpec)` is deprecated, use `isinstance(treespec, TreeSpec)`"
    with warnings.catch_warnings(record=True) as seen, caplog.at_level(logging.INFO):
        warnings.simplefilter("always")
        with quiet_lightning_notices():
            warnings.warn_explicit(leaf, FutureWarning, "_pytree.py", 21, module=pytree)
            warnings.warn_explicit(leaf, DeprecationWarning, "_pytree.py", 21, module=pytree)
            warnings.warn_explicit(leaf, FutureWarning, "other.py", 1, module="other")
            warnings.warn_explicit("a real one", FutureWarning, "_pytree.py", 22, module=pytree)
            rank_zero.log.info("💡 Tip: For seamless cloud logging, try installing litlogger")
            rank_zero.log.info("GPU available: False, used: False")
        warnings.warn_explicit(leaf, FutureWarning, "_pytree.py", 21, module=pytree)
        rank_zero.log.info("💡 Tip: after the run")
    assert [(str(w.message)[:10], w.category) for w in seen] == [
        (leaf[:10], DeprecationWarning),
        (leaf[:10], FutureWarning),
        ("a real one", FutureWarning),
        (leaf[:10], FutureWarning),  # outside the run: not filtered
    ]
    assert [r.getMessage() for r in caplog.records if r.name == rank_zero.log.name] == [
        "GPU available: False, used: False",
        "💡 Tip: after the run",
    ]


def test_onnx_export_of_the_sam2_decoder_warns_nothing_known(tmp_path):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        export_onnx(build_sam_hq("sam2.1_hq_hiera_demo", seed=0), tmp_path / "decoder.onnx")
    assert not [w for w in seen if "aten::index" in str(w.message)]


def test_training_lines_count_speed_without_validation_time(monkeypatch, capsys):
    """Speed over the samples since the last line, minus validation time; ETA at the fit's mean
    training speed; an epoch-end line with the epoch's mean loss."""
    import torch

    from samhq_train.run import progress as run_progress

    monkeypatch.delenv(INTERVAL_ENV, raising=False)  # 30 s
    now = [1000.0]
    monkeypatch.setattr(run_progress.time, "monotonic", lambda: now[0])
    trainer = types.SimpleNamespace(
        max_epochs=2, current_epoch=0, estimated_stepping_batches=4, global_step=0,
        sanity_checking=False, state=types.SimpleNamespace(fn="fit"),
    )
    bar = run_progress.PlainProgressBar()
    bar.on_train_start(trainer, None)
    bar.on_train_epoch_start(trainer, None)

    def batch(loss: float) -> None:
        now[0] += 10.0
        trainer.global_step += 1
        bar.on_train_batch_end(trainer, None, {"loss": torch.tensor(loss)}, {"name": ["a", "b"]}, 0)

    for loss in (1.0, 2.0, 3.0):
        batch(loss)
    bar.on_validation_start(trainer, None)
    now[0] += 20.0  # a validation inside the fit
    bar.on_validation_end(trainer, None)
    batch(6.0)
    bar.on_train_epoch_end(trainer, None)
    assert capsys.readouterr().out.splitlines() == [
        "train: epoch 0/1 step 3/4 (75%) | 0.2 samples/s | loss 2.0000 | elapsed 30s | ETA 10s",
        "train: epoch 0/1 step 4/4 (100%) | 0.2 samples/s | loss 6.0000 | elapsed 1m00s | ETA 0s",
        "train: epoch 0/1 done, step 4/4 (100%) | 0.2 samples/s | loss 3.0000 (epoch mean) "
        "| elapsed 1m00s | ETA 0s",
    ]
