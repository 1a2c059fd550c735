"""The commands that take flags name their flags in a checkpoint's hint (--variant, --format,
--base), never load_checkpoint's keywords or Hydra's keys (model=, model.variant=)."""

import pickle

import numpy as np
import pytest
from PIL import Image

from samhq_train.app import command as app_command
from samhq_train.cli import export as export_command
from samhq_train.cli import predict as predict_command
from samhq_train.inference import amg_command
from samhq_train.model import CheckpointError, build_sam_hq, load_checkpoint, save_checkpoint
from samhq_train.model.formats import OptionHint


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("hints")
    model = build_sam_hq("vit_demo", seed=0)
    save_checkpoint(model, root / "demo.pth", format="sam_hq")
    save_checkpoint(model, root / "hq.safetensors", format="hq_only")
    save_checkpoint(model, root / "full.safetensors", format="safetensors")
    Image.fromarray(np.zeros((32, 40, 3), np.uint8)).save(root / "a.png")
    return root


def commands(root, out):
    image = str(root / "a.png")
    return {
        "samhq-predict": lambda extra: predict_command.main(
            [image, "--box", "1", "1", "9", "9", "--out", str(out), *extra]
        ),
        "samhq-export": lambda extra: export_command.main(
            ["--to", "sam_hq", "--out", str(out), *extra]
        ),
        "samhq-amg": lambda extra: amg_command.main(["--image", image, "--out", str(out), *extra]),
        "samhq-app": lambda extra: app_command.main(
            [*extra[1:2], *extra[2:], "--out", str(out)], serve=False
        ),
    }


def error_line(run, extra, capsys) -> str:
    with pytest.raises(SystemExit) as info:
        run(extra)
    assert info.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    return line


@pytest.mark.parametrize("command", ["samhq-predict", "samhq-export", "samhq-amg", "samhq-app"])
def test_variant_mismatch_names_the_flag(files, tmp_path, capsys, command):
    run = commands(files, tmp_path / "out")[command]
    line = error_line(run, ["--checkpoint", str(files / "demo.pth"), "--variant", "vit_b"], capsys)
    assert "holds a vit_demo model" in line and "use --variant vit_demo" in line, line
    assert "model=" not in line and "model.variant" not in line, line


@pytest.mark.parametrize("command", ["samhq-predict", "samhq-export", "samhq-amg", "samhq-app"])
def test_missing_base_names_the_flag(files, tmp_path, capsys, command):
    run = commands(files, tmp_path / "out")[command]
    line = error_line(run, ["--checkpoint", str(files / "hq.safetensors")], capsys)
    assert "holds only the HQ parameters" in line and "(--base <file>)" in line, line
    assert "base_checkpoint=" not in line, line


def test_format_hint_names_the_flag(files, tmp_path, capsys):
    run = commands(files, tmp_path / "out")["samhq-predict"]
    extra = ["--checkpoint", str(files / "full.safetensors"), "--format", "hq_only", "--base",
             str(files / "demo.pth")]
    line = error_line(run, extra, capsys)
    assert "pass --format <name> to override detection" in line and "format=" not in line, line


def test_python_api_keeps_its_keywords(files):
    with pytest.raises(CheckpointError, match=r"use model=vit_demo \(or model\.variant=vit_demo\)"):
        load_checkpoint(files / "demo.pth", variant="vit_b")
    with pytest.raises(CheckpointError, match=r"\(base_checkpoint=<file>\)"):
        load_checkpoint(files / "hq.safetensors")


def test_the_hint_pickles_as_its_message(files):
    with pytest.raises(OptionHint) as err:
        load_checkpoint(files / "demo.pth", variant="vit_b")
    again = pickle.loads(pickle.dumps(err.value))
    assert isinstance(again, CheckpointError) and str(again) == str(err.value)


def test_missing_base_says_what_the_file_holds_and_names_the_official_base(files, tmp_path):
    """A delta holds what its run trained (the whole model's tensors under policy full), not
    only the HQ parameters; the advice names the variant's official SAM file where it has one."""
    model = build_sam_hq("vit_demo", seed=0, policy="full")
    delta = save_checkpoint(model, tmp_path / "d.safetensors", "delta", policy="full")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(delta)
    assert "holds only the parameters a run trained (a delta export)" in str(info.value)
    assert str(info.value).endswith("the SAM file or a SAM-HQ file of vit_demo")
    with pytest.raises(CheckpointError, match=r"the official sam_vit_b_01ec64\.pth or a SAM-HQ "
                       "file of vit_b$"):
        load_checkpoint(files / "hq.safetensors", variant="vit_b")


def test_a_partial_file_as_the_base_is_refused(files, tmp_path, capsys):
    """An HQ-only file (or a delta, a training .ckpt) given as the base had loaded on the random
    init of the frozen SAM, and decoded garbage without a word."""
    hq = str(files / "hq.safetensors")
    with pytest.raises(CheckpointError, match=r"hq\.safetensors \(the base given\) is a hq_only "
                       r"file, which holds only the HQ parameters, not a whole model: give a "
                       r"whole one as the base \(base_checkpoint=<file>\), the SAM file or a "
                       r"SAM-HQ file of vit_demo$"):
        load_checkpoint(hq, base_checkpoint=hq)
    with pytest.raises(CheckpointError, match=r"as the base \(base_checkpoint=<file>\), the "
                       r"official sam_vit_b_01ec64\.pth or a SAM-HQ file of vit_b$"):
        load_checkpoint(hq, variant="vit_b", base_checkpoint=hq)
    run = commands(files, tmp_path / "out")["samhq-predict"]
    line = error_line(run, ["--checkpoint", hq, "--base", hq], capsys)
    assert "not a whole model: give a whole one as the base (--base <file>)" in line, line
    assert load_checkpoint(hq, base_checkpoint=files / "demo.pth").untrained_hq is None
