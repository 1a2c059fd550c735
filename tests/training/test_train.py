"""train(cfg) composed from the real conf/train.yaml: fast_dev_run, a short run and what it leaves
behind (frozen weights, optimiser, checkpoints, exports), exact and mid-epoch resume, bad input."""

import os
import signal
import subprocess
import sys

import lightning as L
import pytest
import torch

from samhq_train.errors import UserError
from samhq_train.model import (
    FAMILIES,
    Provenance,
    build_sam_hq,
    load_checkpoint,
    save_checkpoint,
)
from samhq_train.train import train
from tests.reference import build_official
from tests.training.helpers import (
    ROOT,
    SMALL,
    RecordResume,
    assert_same_training_state,
    compose_cfg,
)

is_hq_key = FAMILIES["sam1"].is_hq_key

SHORT = [
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=2",
    "trainer.accelerator=cpu",
    "scheduler.step_size=1",
    "scheduler.gamma=0.5",
    "optimizer.lr=1e-3",
    "trainer.check_val_every_n_epoch=1",
]


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return tmp_path_factory.mktemp("demo_data")


@pytest.fixture(scope="module")
def short_run(tmp_path_factory, data_root):
    """2 epochs x 2 steps, validation before and after, checkpoints and exports."""
    out = tmp_path_factory.mktemp("short_run")
    metrics, objects = train(compose_cfg(out, data_root, *SHORT))
    return out, metrics, objects


def test_fast_dev_run(tmp_path, data_root):
    metrics, objects = train(compose_cfg(tmp_path, data_root, "debug=fdr"))
    assert objects["trainer"].global_step == 1
    assert "train/loss" in metrics


def test_short_run_validates_before_and_after(short_run):
    _, metrics, objects = short_run
    assert objects["trainer"].global_step == 4
    for when in ("before", "after"):
        assert set(metrics[when]) == {"demo-val"}
        assert 0.0 <= metrics[when]["demo-val"]["mIoU"] <= 1.0
        assert metrics[when]["demo-val"]["count"] == 2
    assert {"val/demo-val/mIoU", "val/demo-val/mBIoU", "val/mIoU", "val/mBIoU"} <= set(metrics)


def test_frozen_parameters_bitwise_unchanged_and_hq_trained(short_run):
    _, _, objects = short_run
    trained, base = objects["model"].state_dict(), build_sam_hq("vit_demo", seed=0).state_dict()
    assert set(trained) == set(base)
    frozen = [k for k in base if not is_hq_key(k)]
    assert frozen and all(torch.equal(trained[k], base[k]) for k in frozen)
    assert any(not torch.equal(trained[k], base[k]) for k in base if is_hq_key(k))


def test_optimizer_holds_only_hq_parameters(short_run):
    _, _, objects = short_run
    model, optimizer = objects["model"], objects["trainer"].optimizers[0]
    in_optimizer = {id(p) for g in optimizer.param_groups for p in g["params"]}
    hq = {id(p) for n, p in model.named_parameters() if is_hq_key(n)}
    assert in_optimizer == hq
    assert all(not p.requires_grad for n, p in model.named_parameters() if not is_hq_key(n))
    assert isinstance(optimizer, torch.optim.Adam)


def test_frozen_modules_stay_in_eval_mode(short_run):
    _, _, objects = short_run
    module = objects["module"]
    module.train()
    modes = {n: m.training for n, m in module.model.named_modules() if n}
    assert all(mode == is_hq_key(n) for n, mode in modes.items())
    assert (
        modes["mask_decoder.hf_mlp"]
        and not modes["image_encoder"]
        and not modes["mask_decoder.transformer"]
    )


def test_checkpoint_holds_hq_parameters_and_rebuild_info(short_run):
    out, _, objects = short_run
    ckpts = sorted((out / "checkpoints").glob("*.ckpt"))
    assert [p.name for p in ckpts] in (
        ["best_epoch_000.ckpt", "last.ckpt"],
        ["best_epoch_001.ckpt", "last.ckpt"],
    )
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    expected = {f"model.{n}" for n, _ in objects["model"].named_parameters() if is_hq_key(n)}
    assert set(ckpt["state_dict"]) == expected
    assert {k: v for k, v in ckpt["samhq"].items() if k != "policy_settings"} == {
        "variant": "vit_demo",
        "base_checkpoint": None,
        "base_sha256": None,
        "seed": 0,
        "policy": "hq",
    }
    assert ckpt["config"]["model"]["variant"] == "vit_demo"
    assert len(ckpt["optimizer_states"]) == 1 and len(ckpt["lr_schedulers"]) == 1
    assert len(ckpt["rng_states"]) == 1
    for name, value in ckpt["state_dict"].items():
        assert torch.equal(value, objects["model"].state_dict()[name.removeprefix("model.")])


def test_exports_load_into_official_package_and_reapply_onto_base(short_run, tmp_path):
    out, _, objects = short_run
    model = objects["model"]
    pth = out / "export" / "sam_hq_vit_demo.pth"
    hq_only = out / "export" / "sam_hq_vit_demo_hq.safetensors"
    official = build_official("vit_demo")
    official.load_state_dict(torch.load(pth, map_location="cpu", weights_only=True), strict=True)
    image = torch.rand(3, 256, 256, generator=torch.Generator().manual_seed(0)) * 255
    box = torch.tensor([[40.0, 50.0, 200.0, 180.0]])
    with torch.no_grad():
        ref = official(
            [{"image": image, "original_size": (256, 256), "boxes": box}],
            multimask_output=False,
            hq_token_only=True,
        )[0]["low_res_logits"]
        ours, _ = model(image[None], boxes=box[None], hq_token_only=True)
    torch.testing.assert_close(ours[0], ref, atol=1e-5, rtol=0)

    base = tmp_path / "base.pth"  # the untrained model: the same frozen backbone, fresh HQ parts
    save_checkpoint(build_sam_hq("vit_demo", seed=0), base, "sam_hq")
    rebuilt = load_checkpoint(hq_only, "vit_demo", base_checkpoint=base)
    trained = model.state_dict()
    assert all(torch.equal(v, trained[k]) for k, v in rebuilt.state_dict().items())


@pytest.mark.parametrize(
    "workers",
    [
        0,
        1,
    ],
)
def test_exact_resume_matches_a_straight_run(tmp_path, data_root, workers):
    common = [
        *SHORT,
        "validate_before_training=false",
        "export=false",
        f"data.num_workers={workers}",
    ]
    _, straight = train(compose_cfg(tmp_path / "straight", data_root, *common))
    _, first = train(compose_cfg(tmp_path / "first", data_root, *common, "trainer.max_epochs=1"))
    last = tmp_path / "first" / "checkpoints" / "last.ckpt"
    _, resumed = train(compose_cfg(tmp_path / "resumed", data_root, *common, f"ckpt_path={last}"))
    assert resumed["trainer"].global_step == 4
    assert_same_training_state(straight, resumed)


def test_mid_epoch_resume_restores_step_and_lr(tmp_path, data_root):
    common = [
        *SHORT,
        "trainer.limit_train_batches=3",
        "validate_before_training=false",
        "export=false",
        "+callbacks.step_checkpoint._target_=lightning.pytorch.callbacks.ModelCheckpoint",
        f"+callbacks.step_checkpoint.dirpath={tmp_path}/steps",
        "+callbacks.step_checkpoint.every_n_train_steps=4",
        "+callbacks.step_checkpoint.save_top_k=-1",
        "+callbacks.step_checkpoint.filename='step{step}'",
        "+callbacks.step_checkpoint.auto_insert_metric_name=false",
    ]
    _, straight = train(compose_cfg(tmp_path / "straight", data_root, *common))
    ckpt = tmp_path / "steps" / "step4.ckpt"
    RecordResume.seen.clear()
    _, resumed = train(
        compose_cfg(
            tmp_path / "resumed",
            data_root,
            *common,
            f"ckpt_path={ckpt}",
            "+callbacks.record._target_=tests.training.helpers.RecordResume",
        )
    )
    assert RecordResume.seen == [{"step": 4, "epoch": 1, "lr": pytest.approx(1e-3 * 0.5)}]
    assert resumed["trainer"].global_step == straight["trainer"].global_step == 6
    final_lr = [t["trainer"].optimizers[0].param_groups[0]["lr"] for t in (straight, resumed)]
    assert final_lr == pytest.approx([1e-3 * 0.25] * 2)


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


def test_resume_with_another_variant_is_refused(short_run, tmp_path, data_root):
    out, _, _ = short_run
    from samhq_train.training.module import SamHQModule

    module = SamHQModule(
        build_sam_hq("vit_demo", seed=1),
        optimizer=torch.optim.Adam,
        provenance=Provenance(variant="vit_demo", seed=1),
    )
    ckpt = torch.load(out / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    with pytest.raises(Exception, match="model.seed=0"):
        module.on_load_checkpoint(ckpt)
    module.provenance = Provenance(variant="vit_b", seed=0)
    with pytest.raises(Exception, match="use model=vit_demo"):
        module.on_load_checkpoint(ckpt)
    module.provenance = Provenance(variant="vit_demo", seed=0, policy="full")
    with pytest.raises(Exception, match="resume with model.policy=hq"):
        module.on_load_checkpoint(ckpt)


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


def test_wandb_logger_runs_offline(tmp_path, data_root, monkeypatch):
    pytest.importorskip("wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    out = tmp_path / "run"
    train(compose_cfg(out, data_root, *SHORT, "logger=wandb", "export=false", "num_overlays=1"))
    runs = list(out.rglob("offline-run-*"))
    assert runs, sorted(p.name for p in out.rglob("*"))
    assert list(runs[0].rglob("*.wandb")), "no run history written"
    assert list(runs[0].rglob("*.png")), "no validation overlay logged"


def test_float32_matmul_precision_comes_from_config(tmp_path, data_root):
    try:
        train(compose_cfg(tmp_path, data_root, "debug=fdr", "float32_matmul_precision=high"))
        assert torch.get_float32_matmul_precision() == "high"
    finally:
        torch.set_float32_matmul_precision("highest")


# --- reliability: checkpoints, outputs, empty validation and interrupts ---

QUICK = [
    "trainer.max_epochs=1",
    "trainer.limit_train_batches=1",
    "trainer.limit_val_batches=1",
    "trainer.accelerator=cpu",
]


@pytest.mark.parametrize(
    ("key", "make", "message"),
    [
        (
            "ckpt_path",
            lambda d: d / "nope.ckpt",
            r"ckpt_path=.*nope\.ckpt not found: ckpt_path resumes",
        ),
        ("ckpt_path", lambda d: d, r"ckpt_path=.* is a folder"),
        (
            "ckpt_path",
            "truncated",
            r"ckpt_path=.*truncated\.ckpt cannot be read as a training checkpoint: the file is "
            r"truncated",
        ),
        (
            "ckpt_path",
            "weights",
            r"ckpt_path=.*sam_hq_vit_demo\.pth is plain model weights .*pass model\.checkpoint=",
        ),
        (
            "model.checkpoint",
            "training",
            r"model\.checkpoint=.*last\.ckpt is a training checkpoint: to continue that run "
            r"pass ckpt_path=",
        ),
        (
            "model.checkpoint",
            "hq_only",
            r"model\.checkpoint=.*hq\.safetensors holds only the HQ parameters",
        ),
        (
            "model.checkpoint",
            "damaged",
            r"model\.checkpoint=.*damaged\.pth cannot be read as a PyTorch checkpoint: it is not "
            r"a PyTorch file.*; model\.checkpoint takes the official SAM",
        ),
    ],
)
def test_wrong_checkpoints_are_refused_before_anything_is_read(
    short_run, tmp_path, key, make, message
):
    """The data root is missing: a checkpoint error proves the checkpoint was checked first."""
    out, _, objects = short_run
    files = {
        "training": out / "checkpoints" / "last.ckpt",
        "weights": out / "export" / "sam_hq_vit_demo.pth",
        "hq_only": save_checkpoint(objects["model"], tmp_path / "hq.safetensors", "hq_only"),
    }
    truncated = tmp_path / "truncated.ckpt"
    data = files["training"].read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    files["truncated"] = truncated
    files["damaged"] = tmp_path / "damaged.pth"
    files["damaged"].write_bytes(b"not a checkpoint")
    path = files[make] if isinstance(make, str) else make(tmp_path)
    extra = ["model=vit_b"] if key == "model.checkpoint" else []
    with pytest.raises(UserError, match=message) as info:
        train(compose_cfg(tmp_path / "run", tmp_path / "no_data", *extra, f"{key}={path}"))
    assert "\n" not in str(info.value) and "weights_only" not in str(info.value)


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


class InterruptAt(L.Callback):
    """Raises KeyboardInterrupt (what Ctrl+C does) when training reaches global step `step`."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, *args) -> None:
        if trainer.global_step == self.step:
            raise KeyboardInterrupt


def test_interrupt_prints_the_last_checkpoint_and_the_resume_command(tmp_path, data_root, capsys):
    import signal

    handler = signal.getsignal(signal.SIGINT)
    try:
        with pytest.raises(SystemExit) as info:
            train(
                compose_cfg(
                    tmp_path,
                    data_root,
                    *SHORT,
                    "validate_before_training=false",
                    "export=false",
                    "+callbacks.stop._target_=tests.training.test_train.InterruptAt",
                    "+callbacks.stop.step=3",
                )
            )
    finally:
        signal.signal(signal.SIGINT, handler)  # Lightning ignores SIGINT after an interrupt
    assert info.value.code == 130
    err = capsys.readouterr().err
    last = (tmp_path / "checkpoints" / "last.ckpt").resolve()
    assert (
        f"interrupted (SIGINT) during training at epoch 1, step 3; nothing new was saved, the "
        f"last checkpoint is {last}\nresume with: python train.py <your overrides> ckpt_path={last}"
    ) in err


class SignalAt(L.Callback):
    """Sends this process `signal` (as Ctrl+C or a job scheduler does) when training starts global
    step `step`; under DDP only the process of global rank `rank` when given."""

    def __init__(self, step: int, signal: str = "SIGINT", rank: int | None = None) -> None:
        self.step, self.signal, self.rank = step, signal, rank

    def on_train_batch_start(self, trainer, *args) -> None:
        if trainer.global_step == self.step and self.rank in (None, trainer.global_rank):
            os.kill(os.getpid(), signal.Signals[self.signal])


@pytest.mark.parametrize(("signal_name", "workers"), [("SIGINT", 0), ("SIGTERM", 1)])
def test_a_signal_mid_epoch_writes_a_checkpoint_that_resumes_exactly(
    tmp_path, data_root, capsys, signal_name, workers
):
    common = [
        *SHORT,
        "trainer.limit_train_batches=3",
        "validate_before_training=false",
        "export=false",
        f"data.num_workers={workers}",
    ]
    send = [
        "+callbacks.stop._target_=tests.training.test_train.SignalAt",
        "+callbacks.stop.step=4",
        f"+callbacks.stop.signal={signal_name}",
    ]
    _, straight = train(compose_cfg(tmp_path / "straight", data_root, *common))
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    with pytest.raises(SystemExit) as info:  # the signal comes during epoch 1's second step
        train(compose_cfg(tmp_path / "stopped", data_root, *common, *send))
    assert info.value.code == {"SIGINT": 130, "SIGTERM": 143}[signal_name]
    assert {s: signal.getsignal(s) for s in handlers} == handlers
    ckpt = (tmp_path / "stopped" / "checkpoints" / "interrupted.ckpt").resolve()
    err = capsys.readouterr().err
    assert (
        f"interrupted ({signal_name}) during training at epoch 1, step 5; saved: a checkpoint of "
        f"that position, {ckpt}\nresume with: python train.py <your overrides> ckpt_path={ckpt}"
    ) in err
    assert torch.load(ckpt, map_location="cpu", weights_only=True)["global_step"] == 5
    _, resumed = train(compose_cfg(tmp_path / "resumed", data_root, *common, f"ckpt_path={ckpt}"))
    assert straight["trainer"].global_step == 6
    assert_same_training_state(straight, resumed)


def test_resume_command_repeats_the_hydra_overrides(monkeypatch):
    """Every override of the launch, Hydra's own included, and hydra.run.dir = this run's
    folder (the launch's run-folder settings replaced): the resumed run continues there."""
    from samhq_train.training import resume

    overrides = ["data.root=/my data", "ckpt_path=old.ckpt", "seed=1"]
    hydra = ["hydra.run.dir=old/${now:%H}", "hydra.mode=RUN", "hydra.job.chdir=true"]
    monkeypatch.setattr(resume, "launch_overrides", lambda: overrides)
    hydra.append("hydra.output_subdir=.hydra/resumed-1")  # this launch was a resume itself
    monkeypatch.setattr(resume, "launch_settings", lambda: (hydra, "/runs/a b", None, True))
    monkeypatch.setattr(sys, "argv", ["train.py"])
    assert resume.resume_command("/r/last.ckpt") == (
        "python train.py 'data.root=/my data' seed=1 hydra.job.chdir=true "
        "'hydra.run.dir=/runs/a b' hydra.output_subdir=.hydra/resumed-1 ckpt_path=/r/last.ckpt"
    )
    monkeypatch.setattr(sys, "argv", ["/venv/bin/samhq-train"])  # the installed command
    assert resume.resume_command("/r/last.ckpt").startswith("samhq-train 'data.root=/my data'")
    monkeypatch.setattr(resume, "launch_settings", lambda: (hydra, "/runs/a", "my_train", False))
    command = resume.resume_command("/r/last.ckpt")
    assert " --config-name=my_train 'data.root" in command
    assert " hydra.output_subdir=null " in command  # no .hydra/ record, as the launch


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
