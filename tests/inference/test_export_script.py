"""samhq-export (samhq_train/cli/export.py) end to end on the tiny model: every target from every
checkpoint kind, bad and existing outputs refused; and the damaged or wrong-kind checkpoint files
that samhq-predict and samhq-export both name in one line (or read with --format)."""

import re

import numpy as np
import pytest
import torch

from samhq_train.model import load_checkpoint, save_checkpoint
from tests.inference.script_exits import exits_with_one_line
from tests.reference import build_official


def test_export_from_a_training_checkpoint_to_every_target(export_cli, tiny_files, tmp_path):
    written = export_cli.main(
        [
            "--checkpoint",
            str(tiny_files["ckpt"]),
            "--to",
            "sam_hq",
            "transformers",
            "safetensors",
            "hq_only",
            "onnx",
            "--out",
            str(tmp_path),
        ]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in written.values())
    official = build_official("vit_demo")
    official.load_state_dict(torch.load(written["sam_hq"], weights_only=True), strict=True)
    expected = tiny_files["model"].state_dict()
    for key, value in official.state_dict().items():
        assert torch.equal(value, expected[key]), key
    for target in ("transformers", "safetensors"):
        reloaded = load_checkpoint(written[target]).state_dict()
        assert all(torch.equal(reloaded[k], v) for k, v in expected.items())


def test_export_from_hq_only_plus_base(export_cli, tiny_files, tmp_path):
    hq = save_checkpoint(tiny_files["model"], tmp_path / "mine_hq.safetensors", "hq_only")
    written = export_cli.main(
        [
            "--checkpoint",
            str(hq),
            "--base",
            str(tiny_files["base"]),
            "--to",
            "sam_hq",
            "--out",
            str(tmp_path / "o"),
            "--name",
            "mine",
        ]
    )
    assert written["sam_hq"].name == "mine.pth"
    state = torch.load(written["sam_hq"], weights_only=True)
    assert all(torch.equal(state[k], v) for k, v in tiny_files["model"].state_dict().items())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--checkpoint", "{root}/hq.safetensors"],
            "holds only the HQ parameters: also give the base it was trained on",
        ),
        (
            ["--checkpoint", "{full}", "--variant", "vit_l"],
            "holds a vit_demo model .*but variant vit_l was asked",
        ),
        (
            ["--checkpoint", "{full}", "--format", "hq_only", "--base", "{base}"],
            "full.safetensors \\(read as hq_only\\) does not fit the model",
        ),
        (["--checkpoint", "{root}/nothing.pth"], "checkpoint not found: .*nothing.pth"),
    ],
)
def test_export_bad_checkpoint_exits_with_one_clear_error(
    export_cli, tiny_files, tmp_path, extra, message, capsys
):
    save_checkpoint(tiny_files["model"], tiny_files["root"] / "hq.safetensors", "hq_only")
    names = {k: tiny_files[k] for k in ("root", "full", "base")}
    argv = [a.format(**names) for a in extra]
    line = exits_with_one_line(
        export_cli.main, argv + ["--to", "sam_hq", "--out", str(tmp_path)], capsys
    )
    assert re.search(message, line), line
    assert not any(tmp_path.iterdir())


def test_export_refuses_existing_targets_and_cleans_up_after_a_failure(
    export_cli, tiny_files, tmp_path, capsys, monkeypatch
):
    argv = [
        "--checkpoint",
        str(tiny_files["full"]),
        "--to",
        "sam_hq",
        "hq_only",
        "--out",
        str(tmp_path / "out"),
    ]
    written = export_cli.main(argv)
    stamp = written["sam_hq"].stat().st_mtime_ns
    line = exits_with_one_line(export_cli.main, argv, capsys)
    assert re.search(
        r"sam_hq_vit_demo.pth already exists \(and 1 more\): pass --overwrite", line
    ), line
    assert written["sam_hq"].stat().st_mtime_ns == stamp
    export_cli.main(argv + ["--overwrite"])
    line = exits_with_one_line(export_cli.main, argv[:-1] + [str(written["sam_hq"])], capsys)
    assert "sam_hq_vit_demo.pth is a file, not a folder" in line

    import samhq_train.inference.export as export_module

    def broken_check(*args, **kwargs):
        raise RuntimeError("onnxruntime differs (simulated)")

    monkeypatch.setattr(export_module, "check_onnx", broken_check)
    target = tmp_path / "fresh" / "out"
    (tmp_path / "fresh").mkdir()
    argv = ["--checkpoint", str(tiny_files["full"]), "--to", "sam_hq", "onnx", "--out", str(target)]
    with pytest.raises(RuntimeError, match="simulated"):  # not a user error: its traceback stays
        export_cli.main(argv)
    assert not target.exists()  # the .pth written before the failure was removed, and the folder


@pytest.fixture
def broken_checkpoints(tiny_files, tmp_path):
    """Damaged and wrong-kind checkpoint files (named by case)."""
    good = (tiny_files["root"] / "sam_tiny.pth").read_bytes()
    paths = {
        "truncated": tmp_path / "truncated.pth",
        "random": tmp_path / "random.pth",
        "ckpt_named_pth": tmp_path / "train.pth",
        "no_extension": tmp_path / "noext",
    }
    paths["truncated"].write_bytes(good[: len(good) // 2])
    paths["random"].write_bytes(np.random.default_rng(0).bytes(4096))
    paths["ckpt_named_pth"].write_bytes(tiny_files["ckpt"].read_bytes())
    paths["no_extension"].write_bytes(tiny_files["ckpt"].read_bytes())
    return paths


@pytest.mark.parametrize(
    ("case", "extra", "message"),
    [
        ("truncated", [], "truncated.pth as a PyTorch checkpoint: the file is truncated"),
        ("random", [], "random.pth as a PyTorch checkpoint: it is not a PyTorch file"),
        ("ckpt_named_pth", [], "train.pth is a training checkpoint .*format=lightning"),
        ("no_extension", [], "noext is a training checkpoint without the .ckpt extension"),
    ],
)
@pytest.mark.parametrize("script", ["predict", "export"])
def test_scripts_name_a_broken_checkpoint_in_one_line(
    predict_cli,
    export_cli,
    tiny_files,
    broken_checkpoints,
    tmp_path,
    capsys,
    case,
    extra,
    message,
    script,
):
    checkpoint = ["--checkpoint", str(broken_checkpoints[case]), *extra]
    out = ["--out", str(tmp_path / "out")]
    if script == "predict":
        image = str(tiny_files["images"] / "a.png")
        main, argv = predict_cli.main, [image, "--box", "0", "0", "5", "5"]
        argv += ["--device", "cpu"]
    else:
        main, argv = export_cli.main, ["--to", "sam_hq"]
    line = exits_with_one_line(main, argv + checkpoint + out, capsys)
    assert re.search(message, line), line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("script", ["predict", "export"])
def test_scripts_take_a_format_override(
    predict_cli, export_cli, tiny_files, broken_checkpoints, tmp_path, script
):
    """A training checkpoint without its extension works with --format lightning."""
    argv = ["--checkpoint", str(broken_checkpoints["no_extension"]), "--format", "lightning"]
    argv += ["--out", str(tmp_path / "out")]
    if script == "predict":
        results = predict_cli.main(
            [
                str(tiny_files["images"] / "a.png"),
                "--box",
                "0",
                "0",
                "40",
                "40",
                "--device",
                "cpu",
                *argv,
            ]
        )
        assert len(results) == 1
    else:
        written = export_cli.main(["--to", "sam_hq", *argv])
        state = torch.load(written["sam_hq"], weights_only=True)
        assert all(torch.equal(state[k], v) for k, v in tiny_files["model"].state_dict().items())
