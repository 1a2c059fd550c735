"""Mutation audit 22: an HQ-only file given with a SAM 3 --base that lacks the concept detector
or the video parts is refused naming the base (--base, or its name in the app's line) before a
model is built, in samhq-app --bpe, samhq-app --video, samhq-export --to onnx_concept and
samhq-video --text: each passes --base to the key-name check (the checks alone were tested);
without --bpe the app does not look for the detector."""


import numpy as np
import pytest
from PIL import Image

from samhq_train.app import command as app_command
from samhq_train.app.command import main as app_main
from samhq_train.cli import export
from samhq_train.constants import DEMO_BASE_DIR
from samhq_train.inference.video import command as video_command
from samhq_train.model import load_checkpoint, save_checkpoint
from tests.model.sam3.concept.ours_file import write_sam3_with_detector

NO_DETECTOR = "has no concept detector (no detector.transformer.decoder.* keys"
DEMO_BASE = DEMO_BASE_DIR / "sam3_hq_demo_base.pt"  # no video parts


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("base_refusals_audit22")
    interactive, merges = write_sam3_with_detector(folder, with_detector=False)
    hq_only = save_checkpoint(load_checkpoint(interactive), folder / "hq.safetensors", "hq_only")
    demo_hq = save_checkpoint(load_checkpoint(DEMO_BASE), folder / "demo_hq.safetensors",
                              "hq_only")
    frames = folder / "frames"
    frames.mkdir()
    for i in range(2):
        picture = (np.random.RandomState(i).rand(32, 40, 3) * 255).astype(np.uint8)
        Image.fromarray(picture).save(frames / f"{i:05d}.png")
    return {"interactive": interactive, "bpe": merges, "hq_only": hq_only, "demo_hq": demo_hq,
            "frames": frames}


@pytest.fixture(autouse=True)
def no_model_built(monkeypatch):
    def not_reached(*args, **kwargs):
        pytest.fail("a model was loaded before the refusal")

    monkeypatch.setattr(app_command, "load_checkpoint", not_reached)
    monkeypatch.setattr(export, "load_checkpoint_with_provenance", not_reached)
    monkeypatch.setattr(video_command, "load_model", not_reached)


def _one_line(main, argv, capsys) -> str:
    with pytest.raises(SystemExit) as stop:
        main(argv)
    assert stop.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    return line


def _app(argv):
    return app_main([*argv, "--port", "0", "--device", "cpu"], serve=False)


def test_app_bpe_names_the_base(files, tmp_path, capsys):
    line = _one_line(_app, [str(files["hq_only"]), "--base", str(files["interactive"]), "--bpe",
                            str(files["bpe"]), "--out", str(tmp_path / "o")], capsys)
    assert line.startswith(f"error: --bpe with {files['interactive'].name}: it {NO_DETECTOR}")


def test_app_video_names_the_base(files, tmp_path, capsys):
    line = _one_line(_app, [str(files["demo_hq"]), "--base", str(DEMO_BASE), "--video",
                            str(files["frames"]), "--out", str(tmp_path / "o")], capsys)
    assert line.startswith(f"error: --video: --base {DEMO_BASE} has no video parts"), line


def test_export_onnx_concept_names_the_base(files, tmp_path, capsys):
    line = _one_line(export.main, ["--checkpoint", str(files["hq_only"]), "--base",
                                   str(files["interactive"]), "--to", "onnx_concept", "--out",
                                   str(tmp_path / "out")], capsys)
    assert line.startswith(f"error: --base {files['interactive']} {NO_DETECTOR}"), line


def test_video_text_names_the_base(files, tmp_path, capsys):
    line = _one_line(video_command.main, [
        "--frames", str(files["frames"]), "--checkpoint", str(files["hq_only"]), "--base",
        str(files["interactive"]), "--text", "car", "--bpe", str(files["bpe"]),
        "--out", str(tmp_path / "out"), "--device", "cpu"], capsys)
    assert line.startswith(f"error: --base {files['interactive']} {NO_DETECTOR}"), line


def test_app_without_bpe_takes_a_file_without_the_detector(files, tmp_path, capsys):
    # the detector check is for text prompts only: without --bpe the model is loaded
    with pytest.raises(pytest.fail.Exception, match="a model was loaded"):
        _app([str(files["interactive"]), "--out", str(tmp_path / "o")])
