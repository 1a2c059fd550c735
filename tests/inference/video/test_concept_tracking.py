"""Tracking every instance of a text prompt through a video (detect once, then track) equals doing
it by hand, bit for bit, on Meta's SAM 3 image model miniature with the tracker's video parts
(concept_video_files.py): ConceptPredictor on the text frame (its pixels as read from the file),
the instances sorted by score, one box prompt each on that frame (ids 1..K), then propagate()
forward and in reverse. add_concept_objects (the Python entry) and samhq-video --text (the
PNGs and concept.json) are both compared with that."""

import json
import shlex
from dataclasses import replace

import numpy as np
import pytest
import torch
from PIL import Image

from samhq_train.inference.video import VideoPredictor, command

pytest.importorskip("sam3")
from samhq_train.inference.concept import ConceptPredictor  # noqa: E402
from samhq_train.inference.video.concept_tracking import add_concept_objects  # noqa: E402
from samhq_train.model import load_checkpoint  # noqa: E402

from .concept_video_files import write_concept_video_files  # noqa: E402
from .conftest import NUM_FRAMES, VIDEO_HW, write_video  # noqa: E402
from .test_readme_video import TEXT_COMMANDS  # noqa: E402
from .test_video_file import decoded_as_pngs, write_video_file  # noqa: E402

TEXT = "a red car"
TEXT_FRAME = 2
INSTANCES = 3


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """(files, model, frames folder, threshold): the threshold midway between the text frame's
    3rd and 4th detection scores, so three instances pass, none near the cut."""
    root = tmp_path_factory.mktemp("concept_video")
    files = write_concept_video_files(root)
    model = load_checkpoint(files.sam3).eval()
    frames = write_video(root / "frames", suffix=".png")
    concept = ConceptPredictor(model, files.bpe, threshold=0.0)
    concept.set_image(np.array(Image.open(frames / f"{TEXT_FRAME:05d}.png").convert("RGB")))
    scores = np.sort(concept.predict(TEXT, refine=False).scores)[::-1]
    threshold = float(scores[INSTANCES - 1 : INSTANCES + 1].mean())
    return files, model, frames, threshold


def by_hand(model, bpe, frames, threshold, use_hq, text=TEXT, boxes=None, labels=None):
    """(found instances in score order, {(reverse, frame): (ids, logits)}) of the manual calls
    (boxes, labels: exemplar boxes on the text frame)."""
    image = np.array(Image.open(sorted(frames.iterdir())[TEXT_FRAME]).convert("RGB"))
    concept = ConceptPredictor(model, bpe, threshold=threshold)
    concept.set_image(image)
    found = concept.predict(text, exemplar_boxes=boxes, exemplar_labels=labels, refine=False)
    order = np.argsort(-found.scores, kind="stable")
    h, w = image.shape[:2]
    boxes = np.clip(found.boxes[order], 0, np.array([w, h, w, h], dtype=np.float32))
    predictor = VideoPredictor(model, use_hq=use_hq)
    predictor.set_video(frames)
    for i, box in enumerate(boxes):
        predictor.add_points_or_box(TEXT_FRAME, i + 1, box=box)
    tracked = {}
    for reverse in (False, True):
        for frame, ids, logits in predictor.propagate(reverse=reverse):
            tracked[(reverse, frame)] = (ids, logits)
    return found, order, boxes, tracked


@pytest.fixture(scope="module")
def manual(setup):
    files, model, frames, threshold = setup
    with torch.inference_mode():
        return by_hand(model, files.bpe, frames, threshold, use_hq=False)


def assert_objects_found(tracked) -> None:
    """The comparison is not trivial: three objects, each present on most frames."""
    present = sum(int((logits > 0).any(dim=(1, 2, 3)).sum()) for _, logits in tracked.values())
    assert present >= INSTANCES * NUM_FRAMES, present


@pytest.mark.parametrize("use_hq", [False, True], ids=["sam3", "hq-sam3"])
def test_python_entry_equals_by_hand(setup, use_hq):
    files, model, frames, threshold = setup
    with torch.inference_mode():
        found, order, boxes, theirs = by_hand(model, files.bpe, frames, threshold, use_hq)
        predictor = VideoPredictor(model, use_hq=use_hq)
        concept = ConceptPredictor(model, files.bpe)
        objects = add_concept_objects(
            predictor, concept, frames, TEXT, frame=TEXT_FRAME, threshold=threshold
        )
        ours = {
            (reverse, frame): (ids, logits)
            for reverse in (False, True)
            for frame, ids, logits in predictor.propagate(reverse=reverse)
        }
    assert len(found) == INSTANCES and objects.obj_ids == [1, 2, 3]
    assert (order != np.arange(INSTANCES)).any(), "query order is score order: sorting untested"
    assert np.array_equal(objects.scores, found.scores[order])
    assert np.all(np.diff(objects.scores) <= 0)
    assert np.array_equal(objects.boxes, boxes)
    assert ours.keys() == theirs.keys() and len(ours) == NUM_FRAMES + 1
    for key, (ids, logits) in theirs.items():
        assert ours[key][0] == ids == [1, 2, 3], key
        assert torch.equal(ours[key][1], logits), key
    assert_objects_found(theirs)


def text_args(files, frames, out, threshold, *extra):
    return [
        "--frames", str(frames), "--text", TEXT, "--bpe", str(files.bpe),
        "--checkpoint", str(files.sam3), "--out", str(out), "--device", "cpu",
        "--text-frame", str(TEXT_FRAME), "--threshold", str(threshold), *extra,
    ]


def test_command_equals_by_hand(setup, manual, tmp_path, capsys):
    files, _, frames, threshold = setup
    found, order, boxes, tracked = manual
    out = tmp_path / "masks"
    assert command.main(text_args(files, frames, out, threshold)) == 0
    assert "objects [1, 2, 3]" in capsys.readouterr().out
    for (reverse, frame), (ids, logits) in tracked.items():
        if reverse and frame == TEXT_FRAME:
            continue  # written in the forward pass (the same masks: a conditioning frame)
        written = np.array(Image.open(out / f"{frame:05d}.png"))
        assert written.shape == VIDEO_HW
        assert np.array_equal(written, command.id_mask(ids, logits)), (reverse, frame)
    record = json.loads((out / "concept.json").read_text())
    assert (record["text"], record["frame"], record["frame_name"]) == (TEXT, 2, "00002")
    assert [o["id"] for o in record["objects"]] == [1, 2, 3]
    np.testing.assert_allclose(
        [o["score"] for o in record["objects"]], found.scores[order], rtol=0, atol=1e-6
    )
    np.testing.assert_allclose([o["box"] for o in record["objects"]], boxes, rtol=0, atol=1e-3)
    assert_objects_found(tracked)


EXAMPLE, COUNTER = [26.0, 20.0, 56.0, 50.0], [72.0, 32.0, 108.0, 68.0]  # the square, the disc


def test_command_with_boxes_alone_equals_by_hand(setup, tmp_path, capsys):
    """--exemplar-box and --counter-box without --text: ConceptPredictor with those exemplar boxes
    on the text frame, its instances tracked as by hand; concept.json records the boxes."""
    files, model, frames, _ = setup
    concept = ConceptPredictor(model, files.bpe, threshold=0.0)
    concept.set_image(np.array(Image.open(frames / f"{TEXT_FRAME:05d}.png").convert("RGB")))
    boxes, labels = np.array([EXAMPLE, COUNTER]), np.array([1, 0])
    scores = np.sort(concept.predict(None, exemplar_boxes=boxes, exemplar_labels=labels,
                                     refine=False).scores)[::-1]
    threshold = float(scores[1:3].mean())  # two instances
    with torch.inference_mode():
        found, order, _, tracked = by_hand(
            model, files.bpe, frames, threshold, False, None, boxes, labels
        )
    args = text_args(files, frames, tmp_path / "masks", threshold, "--exemplar-box",
                     *map(str, EXAMPLE), "--counter-box", *map(str, COUNTER))
    del args[2:4]  # no --text
    assert command.main(args) == 0
    assert "objects [1, 2]" in capsys.readouterr().out
    for (reverse, frame), (ids, logits) in tracked.items():
        written = np.array(Image.open(tmp_path / "masks" / f"{frame:05d}.png"))
        if not (reverse and frame == TEXT_FRAME):
            assert np.array_equal(written, command.id_mask(ids, logits)), (reverse, frame)
    assert sum(int((logits > 0).any()) for _, logits in tracked.values()) >= NUM_FRAMES
    record = json.loads((tmp_path / "masks" / "concept.json").read_text())
    assert record["text"] is None and len(found) == 2
    assert (record["exemplar_boxes"], record["exemplar_labels"]) == ([EXAMPLE, COUNTER], [1, 0])
    np.testing.assert_allclose(
        [o["score"] for o in record["objects"]], found.scores[order], rtol=0, atol=1e-6
    )


def test_a_video_file_is_detected_on_its_decoded_frame(setup, tmp_path):
    """A video file's frames are dropped once resized for the model: the detector must see the
    decoded frame first. The result equals the same frames as PNGs in a folder."""
    files, _, frames, threshold = setup
    video = write_video_file(tmp_path / "video.avi", frames, "MJPG")
    pngs = decoded_as_pngs(video, tmp_path / "decoded")
    for source, out in ((video, "from_file"), (pngs, "from_pngs")):
        assert command.main(text_args(files, source, tmp_path / out, threshold)) == 0
    for name in [f"{i:05d}.png" for i in range(NUM_FRAMES)] + ["concept.json"]:
        a, b = (tmp_path / out / name for out in ("from_file", "from_pngs"))
        assert a.read_bytes() == b.read_bytes(), name


def test_no_instance_found_writes_background_and_says_so(setup, tmp_path, capsys):
    files, _, frames, _ = setup
    out = tmp_path / "masks"
    assert command.main(text_args(files, frames, out, 0.99, "--overlay")) == 0
    said = capsys.readouterr().out
    assert f"no instance of {TEXT!r} on frame 2 passed --threshold 0.99" in said
    for i in range(NUM_FRAMES):
        assert not np.array(Image.open(out / f"{i:05d}.png")).any()
        assert (out / "overlay" / f"{i:05d}.jpg").is_file()
    assert json.loads((out / "concept.json").read_text())["objects"] == []


@pytest.mark.parametrize("text", [c.text for c in TEXT_COMMANDS])
def test_readme_text_command_runs(text, setup, tmp_path):
    """As written, on stand-ins (the miniature's scores are near 0.2: no instance passes the
    README's thresholds, so every frame is background)."""
    files, _, frames, _ = setup
    stand_ins = {"video/": str(frames), "sam3.pt": str(files.sam3),
                 "bpe_simple_vocab_16e6.txt.gz": str(files.bpe), "masks/": str(tmp_path / "masks"),
                 "video.mp4": str(write_video_file(tmp_path / "v.mp4", frames, "mp4v"))}
    args = [stand_ins.get(a, a) for a in shlex.split(text)[1:]]
    assert command.main([*args, "--device", "cpu"]) == 0
    assert sorted(p.name for p in (tmp_path / "masks").glob("*.png")) == [
        f"{i:05d}.png" for i in range(NUM_FRAMES)
    ]
    assert json.loads((tmp_path / "masks" / "concept.json").read_text())["objects"] == []


def test_boxes_past_the_frame_are_clipped_to_it(setup, monkeypatch):
    """The detector's boxes may reach past the image (here moved 30 px right): the prompt is the
    box clipped to the frame, as ConceptPredictor clips the boxes it refines."""
    files, model, frames, threshold = setup
    concept = ConceptPredictor(model, files.bpe, threshold=threshold)
    predict = concept.predict

    def moved(*args, **kwargs):
        found = predict(*args, **kwargs)
        return replace(found, boxes=found.boxes + np.float32([30, 0, 30, 0]))

    monkeypatch.setattr(concept, "predict", moved)
    w = VIDEO_HW[1]
    with torch.inference_mode():
        predictor = VideoPredictor(model, use_hq=False)
        objects = add_concept_objects(predictor, concept, frames, TEXT, frame=TEXT_FRAME)
        ours = next(predictor.propagate(max_frames=1))
        by_hand = VideoPredictor(model, use_hq=False)
        by_hand.set_video(frames)
        for obj_id, box in zip(objects.obj_ids, objects.boxes):
            by_hand.add_points_or_box(TEXT_FRAME, obj_id, box=box)
        theirs = next(by_hand.propagate(max_frames=1))
    assert len(objects) == INSTANCES and (objects.boxes[:, 2] == w).all()
    assert (objects.boxes[:, 0] < w).all() and (objects.boxes[:, 0] > 30).all()
    assert ours[:2] == theirs[:2] == (TEXT_FRAME, [1, 2, 3])
    assert torch.equal(ours[2], theirs[2])
