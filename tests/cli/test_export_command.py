"""samhq-export's --name is a file name stem: one with a folder in it would write outside --out."""

import pytest

from samhq_train.cli import export as export_command
from samhq_train.model import build_sam_hq, save_checkpoint


def not_reached(*args, **kwargs):
    raise AssertionError("the checkpoint was read before the check")


def refusal_before_reading(monkeypatch, capsys, argv: list[str]) -> list[str]:
    """samhq-export's stderr lines for `argv`, which must exit 2 before the checkpoint is read."""
    monkeypatch.setattr(export_command, "load_checkpoint_with_provenance", not_reached)
    with pytest.raises(SystemExit) as info:
        export_command.main(argv)
    assert info.value.code == 2
    return capsys.readouterr().err.splitlines()


@pytest.mark.parametrize("name", ["../../x", "sub/x", "..", ""])
def test_a_name_with_a_folder_is_refused_before_the_checkpoint_is_read(
    tmp_path, monkeypatch, capsys, name
):
    argv = ["--checkpoint", "w.pth", "--to", "sam_hq", "--out", str(tmp_path / "out")]
    assert refusal_before_reading(monkeypatch, capsys, [*argv, "--name", name]) == [
        f"error: --name {name!r}: give a file name stem without a folder (the files go into "
        "--out)"
    ]
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == []


def test_a_plain_name_is_used(tmp_path):
    weights = tmp_path / "w.pth"
    save_checkpoint(build_sam_hq("vit_tiny"), weights, format="sam_hq")
    out = tmp_path / "out"
    written = export_command.main(
        ["--checkpoint", str(weights), "--to", "sam_hq", "--out", str(out), "--name", "mine.v2"]
    )
    assert written == {"sam_hq": out / "mine.v2.pth"} and written["sam_hq"].is_file()


@pytest.mark.parametrize("opset", ["3", "13", "21"])
def test_an_opset_the_models_cannot_export_at_is_refused_before_the_checkpoint_is_read(
    tmp_path, monkeypatch, capsys, opset
):
    argv = ["--checkpoint", "w.pth", "--to", "onnx", "--out", str(tmp_path / "out")]
    assert refusal_before_reading(monkeypatch, capsys, [*argv, "--onnx-opset", opset]) == [
        f"error: --onnx-opset {opset}: give an opset from 14 to 20 (default 17)"
    ]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("flag", ["--onnx-hq-token-only", "--onnx-multimask"])
def test_an_onnx_decoder_flag_without_the_onnx_target_is_refused(tmp_path, monkeypatch, capsys,
                                                                   flag):
    """It changes no file the other targets write: it had been ignored in silence."""
    argv = ["--checkpoint", "w.pth", "--to", "sam_hq", "hq_only", "--out", str(tmp_path / "o")]
    assert refusal_before_reading(monkeypatch, capsys, [*argv, flag]) == [
        f"error: {flag} sets the onnx target's prompt decoder, which --to sam_hq hq_only does not "
        "write: add onnx to --to, or leave the flag out"
    ]


def test_onnx_concept_of_a_model_without_the_detector_names_the_file(tmp_path, capsys):
    weights = save_checkpoint(build_sam_hq("vit_demo", seed=0), tmp_path / "w.pth", "sam_hq")
    with pytest.raises(SystemExit) as info:
        export_command.main(["--checkpoint", str(weights), "--to", "onnx_concept", "--out",
                             str(tmp_path / "o")])
    assert info.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: --checkpoint {weights}: this is a sam1 model; text and "), line
    assert not (tmp_path / "o").exists()


def test_a_bare_checkpoint_names_its_flag(tmp_path, capsys):
    """`samhq-export last.ckpt --to ...` (the input first, as samhq-predict takes it): the usage
    error names --checkpoint, not argparse's 'required: --checkpoint' alone."""
    with pytest.raises(SystemExit) as stop:
        export_command.main(["last.ckpt", "--to", "sam_hq", "--out", str(tmp_path / "out")])
    assert stop.value.code == 2
    assert "give the weights with their flag: --checkpoint last.ckpt" in capsys.readouterr().err
