"""samhq-concept with several --text: one image encoding, each text detected in turn; the json,
the numbered masks and the overlay are the single-text runs' instances one after the other, each
tagged with its text. Exemplar boxes go with one text only; a text given twice is refused."""

import json

import cv2
import numpy as np
import pytest

from samhq_train.drawing import draw_overlay
from samhq_train.inference.concept import ConceptInstances, ConceptPredictor, joined
from samhq_train.inference.concept_command import instance_texts, per_text
from samhq_train.model import load_checkpoint

from .test_concept_command import files, run  # noqa: F401  (files: the module's fixture)

TEXTS = ("a red car", "two dogs")
THRESHOLD = ["--threshold", "0.15"]


def read_run(out):
    record = json.loads((out / "street.json").read_text())
    masks = [
        cv2.imread(str(out / instance["mask"]), cv2.IMREAD_UNCHANGED) > 0
        for instance in record["instances"]
    ]
    overlay = cv2.imread(str(out / "street_overlay.png"), cv2.IMREAD_COLOR)
    return record, masks, overlay


def test_two_texts_equal_two_single_text_runs(files, tmp_path, monkeypatch, capsys):  # noqa: F811
    encodings = []
    set_image = ConceptPredictor.set_image

    def counted(self, image):
        encodings.append(image.shape)
        set_image(self, image)

    monkeypatch.setattr(ConceptPredictor, "set_image", counted)
    singles = []
    for i, text in enumerate(TEXTS):
        assert run(files, tmp_path / f"single{i}", "--text", text, *THRESHOLD) == 0
        singles.append(read_run(tmp_path / f"single{i}"))
    capsys.readouterr()
    both = ["--text", TEXTS[0], "--text", TEXTS[1]]
    assert run(files, tmp_path / "both", *both, *THRESHOLD) == 0
    assert len(encodings) == 3  # one per run: the two texts share the image's encoding
    counts = [len(record["instances"]) for record, _, _ in singles]
    assert all(counts), counts  # each text finds instances (the comparison is not empty)
    line = capsys.readouterr().out
    assert f"{sum(counts)} instances ('{TEXTS[0]}': {counts[0]}, '{TEXTS[1]}': {counts[1]})" in line

    record, masks, overlay = read_run(tmp_path / "both")
    assert record["text"] == list(TEXTS)
    expected = [
        {**instance, "mask": f"street_masks/{n:04d}.png", "text": text}
        for n, (text, instance) in enumerate(
            (text, instance)
            for text, (single, _, _) in zip(TEXTS, singles)
            for instance in single["instances"]
        )
    ]
    assert record["instances"] == expected
    single_masks = [m for _, ms, _ in singles for m in ms]
    assert len(masks) == len(single_masks) == sum(counts)
    for got, want in zip(masks, single_masks):
        np.testing.assert_array_equal(got, want)
    assert all("text" not in i for single, _, _ in singles for i in single["instances"])
    assert [single["text"] for single, _, _ in singles] == list(TEXTS)  # one text: a string

    # the overlay: every instance in its own colour and number, as drawn from the joined answers
    checkpoint, merges, _, image = files
    predictor = ConceptPredictor(load_checkpoint(checkpoint).eval(), merges, threshold=0.15)
    predictor.set_image(image)
    found = joined([predictor.predict(text, use_hq=False) for text in TEXTS])
    picture = draw_overlay(image, found.masks, boxes=found.boxes)
    np.testing.assert_array_equal(cv2.cvtColor(overlay, cv2.COLOR_BGR2RGB), picture)


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--text", "a cat", "--text", "a cat "], "--text 'a cat' is given twice"),
        (["--text", "a cat", "--text", " "], "--text is empty"),
        (
            ["--text", "a cat", "--text", "a dog", "--exemplar-box", "1", "1", "9", "9"],
            "show examples of one concept",
        ),
        (
            ["--text", "a cat", "--text", "a dog", "--counter-box", "1", "1", "9", "9"],
            "show examples of one concept",
        ),
    ],
)
def test_bad_text_combinations_are_usage_errors(files, tmp_path, capsys, extra, words):  # noqa: F811
    assert run(files, tmp_path / "out", *extra) == 2
    err = capsys.readouterr().err
    assert words in err and not (tmp_path / "out").exists()


def instances(n: int, refined: bool, seed: int) -> ConceptInstances:
    rng = np.random.default_rng(seed)
    masks = rng.random((n, 4, 5)) > 0.5
    return ConceptInstances(
        scores=rng.random(n),
        boxes=rng.random((n, 4)),
        detector_masks=~masks,
        masks=masks,
        mask_scores=rng.random(n) if refined and n else None,
    )


def test_joined_keeps_the_order_and_a_text_that_found_nothing():
    """A text with no instance has no refined scores (nothing was refined); joined with refined
    ones it adds nothing, and every field follows the texts' order."""
    parts = [instances(2, True, 0), instances(0, True, 1), instances(3, True, 2)]
    found = joined(parts)
    assert len(found) == 5 and found.masks.shape == (5, 4, 5)
    for field in ("scores", "boxes", "detector_masks", "masks", "mask_scores"):
        want = np.concatenate([getattr(p, field) for p in parts if len(p)])
        np.testing.assert_array_equal(getattr(found, field), want)
    assert joined([instances(2, False, 0), instances(1, False, 1)]).mask_scores is None
    with pytest.raises(ValueError, match="cannot be mixed"):
        joined([instances(2, True, 0), instances(1, False, 1)])


def test_each_instance_is_tagged_with_its_own_texts_count():
    """Uneven counts (2, 0, 1): the tags and the printed counts follow each text's instances."""
    texts = ["a cat", "a dog", "a bus"]
    answers = [instances(2, True, 0), instances(0, True, 1), instances(1, True, 2)]
    assert instance_texts(texts, answers) == ["a cat", "a cat", "a bus"]
    assert instance_texts(texts[:1], answers[:1]) is None
    assert per_text(texts, answers) == "'a cat': 2, 'a dog': 0, 'a bus': 1"
