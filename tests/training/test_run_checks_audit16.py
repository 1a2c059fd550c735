"""samhq-train's check stage (run/checks.py) through its public entry, check_inputs: each
refusal an image, video or concept run relies on, in the documented order (trainer keys, loggers,
outputs, the resumed checkpoint, the model's weights), and the export files a run would write
over; Lightning's Trainer arguments when its source cannot be read."""

import importlib.util
from types import SimpleNamespace

import pytest
from omegaconf import OmegaConf

from samhq_train.config_check import ConfigError, SetupError
from samhq_train.data.image_files import DataError
from samhq_train.data.moving_shapes import write_moving_shapes
from samhq_train.errors import UserError
from samhq_train.inference.export import export_paths
from samhq_train.output_check import OutputError
from samhq_train.run import checks
from samhq_train.run.checks import check_inputs, check_outputs, check_trainer_arguments
from tests.training.helpers import compose_cfg
from tests.training.video.test_video_run import video_cfg


def earlier_checkpoint(out):
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "last.ckpt").write_bytes(b"")


def test_an_image_run_refuses_in_the_documented_order(tmp_path, monkeypatch):
    """Each refusal, then with the next one's cause added: the earlier check still speaks."""
    out, data = tmp_path / "out", tmp_path / "data"  # data: the demo's, written on first use
    typo, weights = "+trainer.max_epoch=1", "model=vit_b"  # vit_b: no seed, no checkpoint
    with pytest.raises(SetupError, match=r"^model=vit_b needs its SAM weights: pass "
                       r"model.checkpoint=/path/to/sam_vit_b_01ec64\.pth$"):
        check_inputs(compose_cfg(out, data, weights))
    missing = tmp_path / "missing.pth"
    with pytest.raises(UserError, match=rf"^model.checkpoint={missing} not found"):
        check_inputs(compose_cfg(out, data, weights, f"model.checkpoint={missing}"))
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="ckpt_path"):
        check_inputs(compose_cfg(out, data, weights, f"+ckpt_path={garbage}"))
    # data=demo at a folder of other files (it holds garbage.ckpt): before ckpt_path is read
    with pytest.raises(DataError, match=rf"^data.root={tmp_path} is not demo data"):
        check_inputs(compose_cfg(out, tmp_path, weights, f"+ckpt_path={garbage}"))
    earlier_checkpoint(out)
    with pytest.raises(OutputError, match="holds an earlier run's checkpoints"):
        check_inputs(compose_cfg(out, data, weights))
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorboard" else find_spec(name, *a))
    with pytest.raises(SetupError, match=r"^logger=tensorboard needs the tensorboard package: "
                       r"pip install '\.\[tensorboard\]'$"):
        check_inputs(compose_cfg(out, data, weights, "logger=[csv,tensorboard]"))
    with pytest.raises(ConfigError, match="^trainer.max_epoch: .*did you mean trainer.max_epochs"):
        check_inputs(compose_cfg(out, data, weights, "logger=[csv,tensorboard]", typo))


def test_a_seeded_model_needs_no_checkpoint(tmp_path):
    check_inputs(compose_cfg(tmp_path / "out", tmp_path))  # vit_demo: model.seed


def test_a_video_run_checks_its_trainer_keys_and_its_own_export(tmp_path):
    out = tmp_path / "out"
    # its clips: the check stage lists data.root / data.val_root (check_video_data)
    clips = write_moving_shapes(tmp_path / "clips", num_videos=1, num_frames=4, size=32)
    with pytest.raises(ConfigError, match="^trainer.max_epoch: "):
        check_inputs(video_cfg(out, clips, "+trainer.max_epoch=1"))
    cfg = video_cfg(out, clips)
    (out / "export").mkdir(parents=True)
    (out / "export" / f"{cfg.model.variant}_concept.pt").write_bytes(b"")  # not this run's
    check_inputs(cfg)
    (out / "export" / f"{cfg.model.variant}_video.pt").write_bytes(b"")
    with pytest.raises(OutputError, match=r"_video\.pt already exists"):
        check_inputs(cfg)


def image_cfg(out, **settings):
    return OmegaConf.create({"paths": {"output_dir": str(out)}, "export": True, "train": True,
                             "model": {"variant": "vit_demo", "policy": "hq"}, **settings})


@pytest.mark.parametrize("policy, written, other", [
    ("hq", "hq_only", "delta"), ("full", "delta", "hq_only"), ("hq+lora", "delta", "hq_only"),
])
def test_the_image_exports_a_run_would_write_over(tmp_path, policy, written, other):
    """The policy's trained tensors (HQ-only for hq, else the delta) and the merged .pth; not
    another policy's file, nor anything with export=false or train=false (validation only)."""
    names = export_paths(tmp_path / "export", "sam_hq_vit_demo")
    cfg = image_cfg(tmp_path, model={"variant": "vit_demo", "policy": policy})
    names[other].parent.mkdir(parents=True, exist_ok=True)
    names[other].write_bytes(b"")
    check_outputs(cfg)
    for target in (written, "sam_hq"):
        names[target].write_bytes(b"")
        with pytest.raises(OutputError, match=rf"{names[target].name} already exists"):
            check_outputs(cfg)
        check_outputs(OmegaConf.merge(cfg, {"export": False}))
        check_outputs(OmegaConf.merge(cfg, {"train": False}))
        names[target].unlink()


def test_the_trainer_arguments_without_lightnings_source(tmp_path, monkeypatch):
    """Lightning's source not where the ast reader looks: its signature answers, the same."""
    read = checks.trainer_arguments()
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: SimpleNamespace(
        origin=str(tmp_path / "__init__.py")) if name == "lightning" else find_spec(name, *a))
    assert checks.trainer_arguments() == read
    with pytest.raises(ConfigError, match="did you mean trainer.max_epochs"):
        check_trainer_arguments(OmegaConf.create({"trainer": {"max_epoch": 1}}))
