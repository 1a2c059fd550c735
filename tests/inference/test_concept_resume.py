"""samhq-concept run again over its own outputs: --skip-existing makes only what an earlier run
with the same settings did not finish; outputs of other settings, of another image, or not
samhq-concept's are refused in one line before the weights are read."""

import json

import cv2
import numpy as np
import pytest

from samhq_train.errors import SETUP_ERROR_EXIT
from samhq_train.inference import concept_command
from tests.model.sam3.concept.ours_file import write_sam3_with_detector


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return write_sam3_with_detector(tmp_path_factory.mktemp("concept_resume"))


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, name in enumerate("ab"):
        picture = (np.random.RandomState(i).rand(60, 80, 3) * 255).astype(np.uint8)
        cv2.imwrite(str(folder / f"{name}.png"), picture)
    return folder


def run(weights, photos, out, *extra):
    checkpoint, merges = weights
    argv = ["--images", str(photos), "--text", "a shape", "--checkpoint", str(checkpoint),
            "--bpe", str(merges), "--out", str(out), "--device", "cpu", "--threshold", "0.1"]
    assert concept_command.main([*argv, *extra]) == 0


def refusal(weights, photos, out, capsys, *extra) -> str:
    with pytest.raises(SystemExit) as stop:
        run(weights, photos, out, *extra)
    assert stop.value.code == SETUP_ERROR_EXIT
    return capsys.readouterr().err.strip().splitlines()[-1]


def files_in(out) -> dict:
    return {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}


def test_skip_existing_makes_only_what_is_missing(weights, photos, tmp_path, capsys):
    out = tmp_path / "out"
    run(weights, photos, out)
    a_json = (out / "a.json").read_bytes()
    assert json.loads(a_json)["samhq_concept"]["text"] == ["a shape"]
    (out / "b_overlay.png").unlink()  # b begun (its JSON recorded these settings), not finished
    capsys.readouterr()
    run(weights, photos, out, "--skip-existing")
    captured = capsys.readouterr()
    assert f"skipping 1 of 2 images: their results are in {out} already" in captured.err
    assert "a.png" not in captured.out and "b.png" in captured.out
    assert (out / "a.json").read_bytes() == a_json and (out / "b_overlay.png").is_file()


def test_ctrl_c_then_skip_existing_finishes_the_run(weights, photos, tmp_path, capsys,
                                                   monkeypatch):
    out = tmp_path / "out"
    real = concept_command.write_png

    def ctrl_c_at_b_overlay(path, picture):
        if path.name == "b_overlay.png":
            raise KeyboardInterrupt
        real(path, picture)

    monkeypatch.setattr(concept_command, "write_png", ctrl_c_at_b_overlay)
    with pytest.raises(SystemExit) as stop:
        run(weights, photos, out)
    assert stop.value.code == 130
    again = "run the same command with --skip-existing to make the rest"
    assert capsys.readouterr().err.strip().splitlines()[-1].endswith(again)
    monkeypatch.undo()
    a_files = {p: p.read_bytes() for p in out.glob("a*") if p.is_file()}
    run(weights, photos, out, "--skip-existing")
    assert f"skipping 1 of 2 images: their results are in {out} already" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in out.glob("a*") if p.is_file()} == a_files
    assert (out / "b.json").is_file() and (out / "b_overlay.png").is_file()


def test_skip_existing_refuses_outputs_of_other_settings(weights, photos, tmp_path, capsys):
    out = tmp_path / "out"
    run(weights, photos, out)
    before = files_in(out)
    err = refusal(weights, photos, out, capsys, "--skip-existing", "--threshold", "0.3",
                  "--checkpoint", str(tmp_path / "never_read.pt"))
    assert err.startswith(f"error: {out / 'a.json'} was written with other settings (")
    assert "--threshold 0.1 (now 0.3)" in err and "pass --overwrite as well" in err
    assert files_in(out) == before


def test_skip_existing_with_overwrite_redoes_outputs_of_other_settings(weights, photos, tmp_path,
                                                                       capsys):
    out = tmp_path / "out"
    run(weights, photos, out)
    run(weights, photos, out, "--skip-existing", "--overwrite", "--threshold", "0.2")
    assert "skipping" not in capsys.readouterr().err
    for stem in "ab":
        assert json.loads((out / f"{stem}.json").read_text())["samhq_concept"]["threshold"] == 0.2


def test_skip_existing_refuses_a_file_it_did_not_write(weights, photos, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.json").write_text('{"mine": true}')
    err = refusal(weights, photos, out, capsys, "--skip-existing")
    assert err == (f"error: {out / 'a.json'} already exists: pass --overwrite as well to replace "
                   "it (the finished images are still skipped)")
    assert (out / "a.json").read_text() == '{"mine": true}'


def test_skip_existing_refuses_the_result_of_another_image_of_the_same_name(weights, photos,
                                                                           tmp_path, capsys):
    out = tmp_path / "out"
    run(weights, photos, out)
    (photos / "a.png").rename(photos / "a.jpg")
    err = refusal(weights, photos, out, capsys, "--skip-existing")
    assert f"{out / 'a.json'} was made from another image (a.png): give another --out" in err


def test_overwrite_leaves_only_this_runs_masks_and_the_users_files(weights, photos, tmp_path):
    """An earlier result with more instances: its extra masks go with it, the user's file stays."""
    out = tmp_path / "out"
    run(weights, photos, out)
    earlier = json.loads((out / "a.json").read_text())
    earlier["instances"].append({"mask": "a_masks/0099.png"})  # as if it had found 100
    (out / "a.json").write_text(json.dumps(earlier))
    (out / "a_masks" / "0099.png").write_bytes(b"an earlier run's mask")
    (out / "a_masks" / "notes.txt").write_text("the user's own")
    run(weights, photos, out, "--overwrite")
    named = [i["mask"].split("/")[1] for i in json.loads((out / "a.json").read_text())["instances"]]
    assert sorted(p.name for p in (out / "a_masks").iterdir()) == sorted([*named, "notes.txt"])
