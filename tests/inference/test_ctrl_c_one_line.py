"""Ctrl-C in samhq-predict, samhq-concept and samhq-amg is one line, as in samhq-video: how many
images' outputs were written (each whole: none of the interrupted image's files stays), run again
with --overwrite (samhq-amg, samhq-concept: --skip-existing makes the rest); exit 130, no
traceback.
samhq-predict's predictions.json lists the written ones."""

import json

import cv2
import numpy as np
import pytest

from samhq_train.cli import predict as predict_command
from samhq_train.inference import amg_command, batch_predict, concept_command
from tests.inference.predict_runs import three_images
from tests.model.sam3.concept.ours_file import write_sam3_with_detector

pytestmark = pytest.mark.usefixtures("pixel_limit_restored")


def _ctrl_c_at_b_overlay(monkeypatch, module):
    """module.write_png writes, but Ctrl-C comes while image b's overlay (its last file, after
    its masks) is written: nothing of that file is on disk (writes go through a temporary)."""
    real = module.write_png

    def interrupted_at_b_overlay(path, picture):
        if path.name == "b_overlay.png":
            raise KeyboardInterrupt
        real(path, picture)

    monkeypatch.setattr(module, "write_png", interrupted_at_b_overlay)


def _exit_status(main, argv) -> int:
    """main(argv)'s exit status; a KeyboardInterrupt that escapes (a traceback) fails the test
    rather than stopping pytest."""
    try:
        main([str(a) for a in argv])
    except SystemExit as stop:
        return stop.code
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C came out as a KeyboardInterrupt (a traceback), not one line")
    return 0


def test_ctrl_c_in_samhq_predict_is_one_line(tmp_path, tiny_weights, capsys, monkeypatch):
    folder, out = three_images(tmp_path), tmp_path / "out"
    _ctrl_c_at_b_overlay(monkeypatch, batch_predict)
    argv = [folder, "--checkpoint", tiny_weights, "--box", 5, 5, 50, 40, "--out", out,
            "--device", "cpu"]
    assert _exit_status(predict_command.main, argv) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        f"interrupted (SIGINT): 1 of 3 images' masks written to {out}; run again with "
        "--overwrite to replace them")
    assert sorted(p.name for p in out.iterdir()) == [
        "a_mask.png", "a_overlay.png", "predictions.json"]
    assert [k.rsplit("/", 1)[-1] for k in json.loads((out / "predictions.json").read_text())] == [
        "a.png"]


@pytest.fixture(scope="module")
def concept_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ctrl_c_concept")
    checkpoint, merges = write_sam3_with_detector(folder)
    images = folder / "images"
    images.mkdir()
    for i, name in enumerate("ab"):
        picture = (np.random.RandomState(i).rand(60, 80, 3) * 255).astype(np.uint8)
        cv2.imwrite(str(images / f"{name}.png"), picture)
    return checkpoint, merges, images


def test_ctrl_c_in_samhq_concept_is_one_line(concept_files, tmp_path, capsys, monkeypatch):
    checkpoint, merges, images = concept_files
    out = tmp_path / "out"
    _ctrl_c_at_b_overlay(monkeypatch, concept_command)
    argv = ["--images", str(images), "--text", "a shape", "--checkpoint",
            str(checkpoint), "--bpe", str(merges), "--out", str(out), "--device", "cpu"]
    assert _exit_status(concept_command.main, argv) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        f"interrupted (SIGINT): 1 of 2 images' results written to {out}; run the same "
        "command with --skip-existing to make the rest")
    files = sorted(p.name for p in out.iterdir() if p.is_file())
    assert files == ["a.json", "a_overlay.png"]  # b.json removed with the overlay unwritten


def test_ctrl_c_in_samhq_amg_is_one_line(tmp_path, tiny_weights, capsys, monkeypatch):
    folder, out = three_images(tmp_path), tmp_path / "out"
    _ctrl_c_at_b_overlay(monkeypatch, amg_command)
    argv = ["--images", folder, "--checkpoint", tiny_weights, "--out", out, "--device", "cpu",
            "--points-per-side", 2, "--output-mode", "binary_mask", "--pred-iou-thresh", 0,
            "--stability-score-thresh", 0]
    assert _exit_status(amg_command.main, argv) == 130
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (
        f"interrupted (SIGINT): 1 of 3 images' masks written to {out}; run the same command "
        "with --skip-existing to make the rest")
    files = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    masks = [f for f in files if f.startswith("a_masks/")]
    assert masks and files == ["a.json", *masks, "a_overlay.png"]  # b's masks and json removed

    monkeypatch.undo()  # the same command again, with --skip-existing: b and c are made
    a_files = {f: (out / f).read_bytes() for f in files}
    assert _exit_status(amg_command.main, argv + ["--skip-existing"]) == 0
    assert f"skipping 1 of 3 images: their masks are in {out} already" in capsys.readouterr().err
    assert {f: (out / f).read_bytes() for f in files} == a_files
    assert all((out / f"{stem}_overlay.png").is_file() for stem in "bc")
