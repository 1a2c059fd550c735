"""compat.py: the commands' release check against pyproject's floors, and torch.onnx.export's
exporter keywords on every supported torch (the ONNX export tests run them end to end)."""

import importlib.metadata
import inspect
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

import samhq_train
from samhq_train import compat
from samhq_train.errors import command_entry
from samhq_train.model.common import early_to_nchw
from samhq_train.train import optimizer_factories


def test_a_release_below_its_floor_is_one_line_naming_it_and_the_fix():
    installed = importlib.metadata.version("torch")
    line = compat.too_old_release(["torch>=99.1", "numpy>=1.24"])
    assert line == (f"samhq-train needs torch>=99.1, found torch {installed}: "
                    "pip install -U 'torch>=99.1'")


@pytest.mark.parametrize("requirements", [
    ["torch>=2.3", "torchvision>=0.18"],  # this environment's releases meet the floors
    ["numpy>=99"],  # not a release the check looks at (pip keeps the rest)
    ['torch>=99; python_version < "3"'],  # a marker: left to pip
    ["not-installed-at-all>=1"],
])
def test_releases_at_their_floors_or_not_checked_pass(requirements):
    assert compat.too_old_release(requirements) is None


def test_local_and_pre_release_versions_compare_by_their_numbers():
    assert compat._release("2.3.1+cu121") == (2, 3, 1)
    assert compat._release("2.5.0a0+git1234") == (2, 5, 0)
    assert compat._release("2.3") <= compat._release("2.3.0") < compat._release("2.10")


def test_a_command_with_too_old_torch_stops_with_one_line_before_importing(monkeypatch, capsys):
    monkeypatch.setattr(compat.metadata, "requires", lambda name: ["torch>=99.1"])
    with pytest.raises(SystemExit) as stop:
        command_entry("samhq_train.no_such_command_module")()
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: samhq-train needs torch>=99.1, found torch ")
    assert err.count("\n") == 1


def test_a_clone_without_installed_metadata_is_not_checked(monkeypatch):
    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(compat.metadata, "requires", not_installed)
    assert compat.too_old_release() is None


def test_the_onnx_exporter_keywords_are_ones_this_torch_takes():
    keywords = compat.onnx_torchscript_exporter()
    assert set(keywords) <= set(inspect.signature(torch.onnx.export).parameters)
    assert keywords == ({"dynamo": False} if compat._release(torch.__version__) >= (2, 5) else {})


def test_autocast_dtype_is_what_autocast_runs_in_on_the_device():
    assert compat.autocast_dtype("cpu") is None
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert compat.autocast_dtype("cpu") == torch.bfloat16
        assert compat.autocast_dtype("cuda") is None


def test_early_features_to_the_hq_fusion_with_a_weight_gradient():
    """The fp32 CPU training path (the demo's) asks autocast's state: torch 2.3 takes no device."""
    conv = torch.nn.ConvTranspose2d(8, 4, 2, 2)
    early = torch.randn(1, 4, 4, 8)
    nchw = early_to_nchw(early, conv)
    assert nchw.is_contiguous() and torch.equal(nchw, early.permute(0, 3, 1, 2))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert not early_to_nchw(early, conv).is_contiguous()  # the view: as fast under bf16


def test_the_shipped_optimizer_and_scheduler_save_loadable_with_weights_only(tmp_path):
    """torch < 2.6 keeps optimizer.betas as given: an OmegaConf list made last.ckpt unloadable
    with torch.load(weights_only=True) at the torch 2.3 floor."""
    cfg = OmegaConf.load(Path(samhq_train.__file__).parent / "conf" / "train.yaml")
    optimizer_factory, scheduler_factory = optimizer_factories(cfg)
    optimizer = optimizer_factory([torch.nn.Parameter(torch.zeros(2))])
    scheduler = scheduler_factory(optimizer)
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()},
               tmp_path / "state.pt")
    state = torch.load(tmp_path / "state.pt", weights_only=True)
    assert tuple(state["optimizer"]["param_groups"][0]["betas"]) == (0.9, 0.999)
