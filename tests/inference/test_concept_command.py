"""samhq-concept: what it writes equals ConceptPredictor's answer; bad input is one error line
and exit status 2 before the weights are read (or, for what needs them, before any image)."""

import json

import cv2
import numpy as np
import pytest

from samhq_train.inference.concept import ConceptPredictor
from samhq_train.inference.concept_command import main
from samhq_train.model import load_checkpoint
from tests.model.sam3.concept.ours_file import write_sam3_with_detector


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("concept_command")
    checkpoint, merges = write_sam3_with_detector(folder)
    image = (np.random.RandomState(1).rand(90, 120, 3) * 255).astype(np.uint8)
    image_path = folder / "street.png"
    cv2.imwrite(str(image_path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    return checkpoint, merges, image_path, image


def exit_code(argv) -> int:
    try:
        return main(argv)
    except SystemExit as stop:
        return stop.code


def run(files, out, *extra):
    checkpoint, merges, image_path, _ = files
    argv = ["--image", str(image_path), "--checkpoint", str(checkpoint), "--bpe", str(merges)]
    return exit_code([*argv, "--out", str(out), "--device", "cpu", *extra])


def test_outputs_are_the_predictors_answer(files, tmp_path):
    checkpoint, merges, _, image = files
    assert run(files, tmp_path / "out", "--text", "a red car", "--threshold", "0.18") == 0
    predictor = ConceptPredictor(load_checkpoint(checkpoint).eval(), merges, threshold=0.18)
    predictor.set_image(image)
    found = predictor.predict("a red car", use_hq=False)  # no trained HQ parts: plain SAM 3
    record = json.loads((tmp_path / "out" / "street.json").read_text())
    assert record["text"] == "a red car" and (record["height"], record["width"]) == (90, 120)
    assert 0 < len(record["instances"]) == len(found) < 12
    for i, instance in enumerate(record["instances"]):
        assert instance["score"] == pytest.approx(float(found.scores[i]), abs=1e-6)
        assert instance["box"] == pytest.approx(found.boxes[i].tolist(), abs=1e-3)
        assert instance["mask_score"] == pytest.approx(float(found.mask_scores[i]), abs=1e-6)
        mask = cv2.imread(str(tmp_path / "out" / instance["mask"]), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(mask > 0, found.masks[i])
    assert (tmp_path / "out" / "street_overlay.png").is_file()


def test_detector_masks_and_exemplars(files, tmp_path):
    _, _, _, image = files
    out = tmp_path / "raw"
    exemplar = ["--exemplar-box", "10", "10", "60", "50"]
    assert run(files, out, *exemplar, "--detector-masks", "--threshold", "0.05") == 0
    record = json.loads((out / "street.json").read_text())
    assert record["text"] is None and record["exemplar_labels"] == [1]
    assert record["instances"] and all(i["mask_score"] is None for i in record["instances"])


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--text", " "], "--text is empty"),
        (["--text", "car", "--threshold", "1.5"], "--threshold"),
        ([], "--text and / or --exemplar-box"),
    ],
)
def test_bad_arguments_are_usage_errors(files, tmp_path, capsys, extra, words):
    assert run(files, tmp_path / "out", *extra) == 2
    assert words in capsys.readouterr().err


def test_a_bad_merges_file_is_one_line_before_the_weights(files, tmp_path, capsys, monkeypatch):
    checkpoint, _, image_path, _ = files
    bad = tmp_path / "bpe.txt.gz"
    bad.write_text("not gzip")
    monkeypatch.setattr(
        "samhq_train.inference.concept_command.load_model",
        lambda args: pytest.fail("the weights were read before the merges file was checked"),
    )
    code = exit_code(
        [
            "--image",
            str(image_path),
            "--text",
            "car",
            "--checkpoint",
            str(checkpoint),
            "--bpe",
            str(bad),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error:") and str(bad) in err[0]


def test_a_checkpoint_without_the_detector_is_one_line(files, tmp_path, capsys):
    _, merges, image_path, _ = files
    interactive, _ = write_sam3_with_detector(tmp_path, with_detector=False)
    code = exit_code(
        [
            "--image",
            str(image_path),
            "--text",
            "car",
            "--checkpoint",
            str(interactive),
            "--bpe",
            str(merges),
            "--out",
            str(tmp_path / "out"),
            "--device",
            "cpu",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "no concept detector" in err[0]
    assert not (tmp_path / "out").exists()


def test_exemplars_need_one_image_and_outputs_are_kept(files, tmp_path, capsys):
    _, _, image_path, image = files
    other = tmp_path / "other.png"
    cv2.imwrite(str(other), image)
    assert (
        run(
            files,
            tmp_path / "out",
            "--text",
            "car",
            "--image",
            str(other),
            "--exemplar-box",
            "1",
            "1",
            "9",
            "9",
        )
        == 2
    )
    assert "single --image" in capsys.readouterr().err
    assert run(files, tmp_path / "out", "--text", "car") == 0
    before = (tmp_path / "out" / "street.json").read_bytes()
    assert run(files, tmp_path / "out", "--text", "two dogs") == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (tmp_path / "out" / "street.json").read_bytes() == before
    assert run(files, tmp_path / "out", "--text", "two dogs", "--overwrite") == 0


def test_an_empty_checkpoint_is_named_once(files, tmp_path, capsys):
    _, merges, image_path, _ = files
    empty = tmp_path / "epoch_3.pth"
    empty.write_bytes(b"")
    argv = ["--image", str(image_path), "--text", "car", "--checkpoint", str(empty),
            "--bpe", str(merges), "--out", str(tmp_path / "out"), "--device", "cpu"]
    assert exit_code(argv) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.count(str(empty)) == 1 and "empty" in line, line
