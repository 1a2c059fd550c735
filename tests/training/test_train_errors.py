"""train(cfg) and its entry points on bad input (one line, before the work: wrong or missing
checkpoints, data, logger package, empty validation sets, existing exports) and on a failed
end-of-run export (reported after the results)."""

import os
import subprocess
import sys

import pytest

from samhq_train.errors import UserError
from samhq_train.model import build_sam_hq, save_checkpoint
from samhq_train.train import train
from tests.training.helpers import ROOT, SMALL, compose_cfg

QUICK = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=1",
    "trainer.limit_val_batches=1",
    "trainer.accelerator=cpu",
]


def test_real_variant_without_checkpoint_names_the_file(tmp_path, data_root):
    with pytest.raises(UserError, match=r"model.checkpoint=/path/to/sam_vit_l_0b3195\.pth"):
        train(compose_cfg(tmp_path, data_root, "model=vit_l"))


def test_wrong_variant_checkpoint(tmp_path, data_root):
    path = tmp_path / "tiny.pth"
    save_checkpoint(build_sam_hq("vit_demo", seed=0), path, "sam_hq")
    with pytest.raises(UserError, match="holds a vit_demo model .*but variant vit_b"):
        train(compose_cfg(tmp_path, data_root, "model=vit_b", f"model.checkpoint={path}"))


def test_missing_checkpoint_file_and_data_root(tmp_path, data_root):
    with pytest.raises(
        UserError, match=r"model\.checkpoint=.*nope\.pth not found: model\.checkpoint takes"
    ):
        train(
            compose_cfg(tmp_path, data_root, "model=vit_b", f"model.checkpoint={tmp_path}/nope.pth")
        )
    with pytest.raises(UserError, match="data root not found"):
        train(compose_cfg(tmp_path, tmp_path / "missing", "data=folder", small=False))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="image folder not found"):
        train(compose_cfg(tmp_path, tmp_path / "empty", "data=folder", small=False))


def test_missing_logger_package_says_what_to_install(tmp_path, data_root, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a)
    )
    with pytest.raises(UserError, match=r"pip install '\.\[wandb\]'"):
        train(compose_cfg(tmp_path, data_root, "logger=wandb"))


def test_entry_point_prints_one_line_for_bad_input(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "train.py",
            "model=vit_h",
            f"hydra.run.dir={tmp_path}",
            *SMALL,
            f"data.root={tmp_path}/data",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: model=vit_h needs its SAM weights: pass "
        "model.checkpoint=/path/to/sam_vit_h_4b8939.pth"
    )
    assert "Traceback" not in result.stderr


def test_installed_command_finds_its_configs_from_any_directory(tmp_path):
    """samhq-train (samhq_train.cli.train:main) reads the configs shipped in the package: run
    from a folder that has no conf/, a bad input is still the one line of the config it read."""
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from samhq_train.cli.train import main; "
            "sys.argv[0] = 'samhq-train'; main()",
            "model=vit_h",
            f"hydra.run.dir={tmp_path}/run",
            *SMALL,
            f"data.root={tmp_path}/data",
        ],
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stderr.strip().splitlines()[-1] == (
        "error: model=vit_h needs its SAM weights: pass "
        "model.checkpoint=/path/to/sam_vit_h_4b8939.pth"
    )


@pytest.mark.parametrize("validate_first", [True, False])
def test_empty_validation_sets_are_refused_at_the_start(
    tmp_path, data_root, monkeypatch, validate_first
):
    """Every val mask empty and lenient evaluation: every sample is skipped. Refused before the
    model is built, also when nothing is validated before training."""
    import shutil

    import cv2
    import numpy as np

    import samhq_train.train as train_module
    from samhq_train.data import ensure_demo_data

    ensure_demo_data(data_root, num_train=8, num_val=2, height=96, width=128, seed=0)
    root = tmp_path / "data"
    shutil.copytree(data_root, root)
    for mask in (root / "val" / "masks").iterdir():
        cv2.imwrite(str(mask), np.zeros((96, 128), np.uint8))
    common = [
        "data=folder",
        "data.strict_eval=false",
        "loss.num_points=1024",
        "data.num_workers=0",
        "data.batch_size=2",
        "trainer.enable_progress_bar=false",
        *QUICK,
    ]
    build = train_module.build_model_from_config
    monkeypatch.setattr(
        train_module, "build_model_from_config", lambda *a, **k: pytest.fail("the model was built")
    )
    refused = (
        r"validation found no usable sample in val \(every sample was skipped"
        r".*trainer\.limit_val_batches=0"
    )
    validate = f"validate_before_training={str(validate_first).lower()}"
    with pytest.raises(UserError, match=refused) as info:
        train(compose_cfg(tmp_path / "run", root, *common, validate, small=False))
    assert "\n" not in str(info.value)
    assert not (tmp_path / "run" / "checkpoints").exists()  # refused before training
    monkeypatch.setattr(train_module, "build_model_from_config", build)
    # explicitly off: trains
    metrics, _ = train(
        compose_cfg(
            tmp_path / "off",
            root,
            *common,
            "trainer.limit_val_batches=0",
            "export=false",
            small=False,
        )
    )
    assert "after" not in metrics


def test_existing_export_files_are_refused_before_training(tmp_path, data_root):
    (tmp_path / "export").mkdir(parents=True)
    (tmp_path / "export" / "sam_hq_vit_demo.pth").write_bytes(b"an earlier export")
    with pytest.raises(
        UserError,
        match=(
            r"sam_hq_vit_demo\.pth already exists: give another paths\.output_dir, "
            r"or export=false"
        ),
    ):
        train(compose_cfg(tmp_path, data_root, *QUICK))
    assert not (tmp_path / "checkpoints").exists()
    assert (tmp_path / "export" / "sam_hq_vit_demo.pth").read_bytes() == b"an earlier export"


@pytest.mark.parametrize(
    ("policy", "targets"), [("hq", "hq_only sam_hq"), ("hq+decoder", "delta sam_hq")]
)
def test_failed_end_of_run_export_reports_after_the_results(
    tmp_path, data_root, monkeypatch, capsys, caplog, policy, targets
):
    """The hint names the run's own exports: a policy that trains more than the HQ parts is
    told to export `delta` (hq_only would drop what it trained)."""
    import logging

    from samhq_train.run import outputs

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(outputs, "export_model", full_disk)
    caplog.set_level(logging.INFO, logger="samhq_train.run.outputs")
    refused = (
        r"the end-of-run export to .*export failed: .*No space left on device; export the "
        r"checkpoint with samhq-export --checkpoint .*last\.ckpt --to " + targets + " --out"
    )
    with pytest.raises(UserError, match=refused):
        train(compose_cfg(tmp_path, data_root, *QUICK, f"model.policy={policy}"))
    assert "before training" in capsys.readouterr().out  # the results table came first
    assert f"checkpoints in {tmp_path / 'checkpoints'}" in caplog.text


def test_a_bug_in_the_end_of_run_export_keeps_its_traceback(
    tmp_path, data_root, monkeypatch, capsys
):
    """Not a user error: raised as it came (no one-line translation), after the results."""
    from samhq_train.run import outputs

    def bug(*args, **kwargs):
        raise RuntimeError("read-back differs (simulated bug)")

    monkeypatch.setattr(outputs, "export_model", bug)
    with pytest.raises(RuntimeError, match="simulated bug") as info:
        train(compose_cfg(tmp_path, data_root, *QUICK))
    assert not isinstance(info.value, UserError)
    assert "before training" in capsys.readouterr().out


def test_the_export_hint_keeps_what_the_policy_trained():
    """A run that trained more than the HQ parts is told to export its delta, not hq_only."""
    from samhq_train.run.checks import end_of_run_exports

    assert end_of_run_exports("hq") == ("hq_only", "sam_hq")
    for policy in ("hq+decoder", "hq+lora", "full"):
        assert end_of_run_exports(policy) == ("delta", "sam_hq")
