"""The app's text mode (--bpe) without a browser: its answers are ConceptPredictor's, bit for bit
(scores, boxes, the decoder's IoUs, every mask), saving writes samhq-concept's files under a new
stem, bad requests are one line, and --bpe a model cannot use stops the app at startup."""

import json
import shutil

import cv2
import numpy as np
import pytest

from samhq_train.app import command as app_command
from samhq_train.app import concept as app_concept
from samhq_train.app.command import main as app_main
from samhq_train.constants import DEMO_BASE_DIR

from .conftest import serving
from .test_app_server import call, png_mask

pytest.importorskip("sam3")

from .concept_model import EXEMPLARS, TEXT, Reference, write_concept_files  # noqa: E402


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    return write_concept_files(tmp_path_factory.mktemp("concept_app"))


@pytest.fixture(scope="module")
def reference(files):
    return Reference(*files)


@pytest.fixture
def concept_app(files, tmp_path):
    """(base url, output folder, the demo image's id) of an app with the text mode."""
    checkpoint, bpe = files
    out = tmp_path / "app_out"
    with serving([str(checkpoint), "--bpe", str(bpe), "--out", str(out)]) as base:
        status, image = call(f"{base}/api/demo?index=0")
        assert status == 200
        yield base, out, image["image_id"]


def assert_same(answer: dict, found) -> None:
    """The page's instances are the predictor's: same order, values and masks, bit for bit."""
    instances = answer["instances"]
    assert len(instances) == len(found) > 0
    scores = np.array([i["score"] for i in instances], np.float32)
    assert np.array_equal(scores, found.scores)
    assert np.array_equal(np.array([i["box"] for i in instances], np.float32), found.boxes)
    if found.mask_scores is None:
        assert all(i["mask_score"] is None for i in instances)
    else:
        ious = np.array([i["mask_score"] for i in instances], np.float32)
        assert np.array_equal(ious, found.mask_scores)
    masks = np.stack([png_mask(i["mask"]) for i in instances])
    assert np.array_equal(masks, found.masks)


def test_answers_equal_the_predictor(concept_app, reference):
    base, _, image_id = concept_app
    _, info = call(f"{base}/api/info")
    assert info["concept"] is True
    threshold = reference.middle_threshold(TEXT)
    cases = [
        (TEXT, [], threshold),
        (TEXT, [], threshold + 0.004),  # the slider moved: fewer instances
        (TEXT, EXEMPLARS, reference.middle_threshold(TEXT, EXEMPLARS)),
        (None, EXEMPLARS[:1], reference.middle_threshold(None, EXEMPLARS[:1])),
    ]
    counts = []
    for text, exemplars, cut in cases:
        body = {"image_id": image_id, "text": text, "exemplars": exemplars, "threshold": cut}
        status, answer = call(f"{base}/api/concept", body)
        assert status == 200, answer
        found = reference(text, exemplars, cut)
        assert_same(answer, found)
        counts.append(len(found))
        status, again = call(f"{base}/api/concept", body)  # kept: not found again
        assert again["find_ms"] == 0 and again["instances"] == answer["instances"]
    assert counts[0] == 6 and counts[1] < counts[0], counts


def test_save_writes_the_instances_under_a_new_stem(concept_app, reference):
    base, out, image_id = concept_app
    threshold = reference.middle_threshold(TEXT, EXEMPLARS)
    body = {"image_id": image_id, "text": TEXT, "exemplars": EXEMPLARS, "threshold": threshold}
    found = reference(TEXT, EXEMPLARS, threshold)
    stems = []
    for _ in range(2):  # a second save never replaces the first
        status, saved = call(f"{base}/api/concept/save", body)
        assert status == 200, saved
        stems.append(saved["saved"][0].rsplit("/", 1)[1])
    assert stems == ["demo-val-0000_concept.json", "demo-val-0000_concept_2.json"]
    assert sorted(p.name for p in out.iterdir()) == [
        "demo-val-0000_concept.json", "demo-val-0000_concept_2.json",
        "demo-val-0000_concept_2_masks", "demo-val-0000_concept_2_overlay.png",
        "demo-val-0000_concept_masks", "demo-val-0000_concept_overlay.png",
    ]
    record = json.loads((out / "demo-val-0000_concept.json").read_text())
    assert record["image"] == "demo-val-0000" and (record["height"], record["width"]) == (256, 320)
    assert record["text"] == TEXT and record["threshold"] == threshold
    assert record["exemplar_boxes"] == [e["box"] for e in EXEMPLARS]
    assert record["exemplar_labels"] == [1, 0]
    assert len(record["instances"]) == len(found) > 0
    for i, instance in enumerate(record["instances"]):
        assert instance["score"] == round(float(found.scores[i]), 6)
        assert instance["box"] == [round(float(v), 3) for v in found.boxes[i]]
        mask = cv2.imread(str(out / instance["mask"]), cv2.IMREAD_UNCHANGED) > 127
        assert np.array_equal(mask, found.masks[i])


def test_bad_requests_are_one_line(concept_app, capsys):
    base, _, image_id = concept_app
    cases = [
        ({"text": "   "}, "the text prompt is empty"),
        ({"text": TEXT, "threshold": 1.5}, "threshold must be a number in [0, 1), got 1.5"),
        ({"text": TEXT, "threshold": -0.1}, "threshold must be a number in [0, 1)"),
        ({"text": TEXT, "threshold": None}, "threshold must be a number"),
        ({"text": TEXT, "exemplars": [{"box": [1, 2, 3]}]}, "exemplar 0 must be"),
        ({"text": TEXT, "exemplars": [{"box": [0, 0, 900, 50], "label": 1}]}, "image"),
        ({"text": 7}, "text must be a string"),
        ({"text": TEXT, "image_id": "nope"}, "no longer loaded"),  # 410: the page sends it again
    ]
    for extra, expected in cases:
        status, answer = call(f"{base}/api/concept", {"image_id": image_id, **extra})
        assert status == (410 if "image_id" in extra else 400), (extra, answer)
        assert expected in answer["error"] and "\n" not in answer["error"], answer
    assert capsys.readouterr().out.count("error: ") == len(cases)


def test_without_bpe_the_page_has_no_text_mode(app_server):
    base, _ = app_server
    _, info = call(f"{base}/api/info")
    assert info["concept"] is False
    status, answer = call(f"{base}/api/concept", {"image_id": "x", "text": TEXT})
    assert status == 400 and answer["error"].startswith("no text mode: start the app with")


def test_bpe_a_model_cannot_use_stops_at_startup(files, tiny_checkpoint, tmp_path, capsys):
    checkpoint, bpe = files
    no_detector = tmp_path / "sam3_hq_demo_base.pt"  # the shipped SAM 3 demo base: no detector
    shutil.copy(DEMO_BASE_DIR / "sam3_hq_demo_base.pt", no_detector)
    cases = [
        ([str(checkpoint), "--bpe", str(tmp_path / "missing.txt.gz")], "error: --bpe "),
        ([str(checkpoint), "--bpe", str(tiny_checkpoint)], "is not a readable gzipped"),
        ([str(tiny_checkpoint), "--bpe", str(bpe)], "holds a vit_demo model (sam1 family); text"),
        ([str(no_detector), "--bpe", str(bpe)], "has no concept detector"),
    ]
    for argv, expected in cases:
        with pytest.raises(SystemExit) as exit_info:
            app_main([*argv, "--port", "0", "--out", str(tmp_path / "out")], serve=False)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and expected in err and "\n" not in err, err


def test_kept_answers_stay_under_the_mask_budget(concept_app, reference, monkeypatch):
    base, _, image_id = concept_app
    monkeypatch.setattr(app_concept, "KEPT_MASK_BYTES", 1)  # only the newest answer is kept
    threshold = reference.middle_threshold(TEXT)
    bodies = [{"image_id": image_id, "text": TEXT, "threshold": t}
              for t in (threshold, threshold + 0.001)]
    times = [call(f"{base}/api/concept", body)[1]["find_ms"] for body in [*bodies, *bodies[1:]]]
    assert times[0] > 0 and times[1] > 0 and times[2] == 0
    assert call(f"{base}/api/concept", bodies[0])[1]["find_ms"] > 0  # dropped, found again


def test_a_missing_bpe_file_is_refused_before_the_model_is_read(tmp_path, monkeypatch, capsys):
    def not_reached(*args, **kwargs):
        raise AssertionError("the model was read before the --bpe check")

    monkeypatch.setattr(app_command, "load_segmenter", not_reached)
    with pytest.raises(SystemExit) as exit_info:
        app_main(["sam3.pt", "--bpe", str(tmp_path / "bpe.txt.gz"), "--port", "0"], serve=False)
    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line == (
        f"error: --bpe {tmp_path / 'bpe.txt.gz'} does not exist; give the path of the SAM 3 text "
        "tokenizer's merges file (Meta's bpe_simple_vocab_16e6.txt.gz, in its sam3 repository's "
        "assets/)"
    )


def test_bpe_with_the_demo_base_is_refused_from_its_header(files, monkeypatch, capsys):
    """No checkpoint given: the shipped SAM 1 demo base, refused as a named SAM 1 file is (the
    same line, before the model is read)."""
    _, bpe = files

    def not_reached(*args, **kwargs):
        raise AssertionError("the model was read before the --bpe check")

    monkeypatch.setattr(app_command, "load_segmenter", not_reached)
    with pytest.raises(SystemExit) as exit_info:
        app_main(["--bpe", str(bpe), "--port", "0"], serve=False)
    assert exit_info.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(
        "error: --bpe with vit_demo_base.safetensors: it holds a vit_demo_base model (sam1 family)"
    ), line
