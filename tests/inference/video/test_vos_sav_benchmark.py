"""samhq-video-eval --checkpoint on per-object annotations (an SA-V root: JPEGImages_24fps/,
Annotations_6fps/<video>/<object>/<frame>.png): vos_inference.py --per_obj_png_file's protocol
with VideoPredictor (each object's prompt its first annotated mask where it shows, no
non-overlap constraint, one 0 / 1 PNG per object and frame), both decoders, the scores
samhq-video-eval's on the written folders, and bad input as one line before the model loads."""

import numpy as np
import pytest
import torch
from PIL import Image

from samhq_train.cli import video_eval
from samhq_train.inference.video.benchmark import (
    ABSENT_LOGIT,
    benchmark_predictor,
    plan_benchmark,
)
from samhq_train.inference.video.predictor import VideoPredictor
from samhq_train.model import save_checkpoint

from .conftest import VIDEO_HW, write_video

NUM_FRAMES = 5
ANNOTATED = (0, 2, 4)  # sparse, as SA-V's 6 of 24 fps
LATE_START = 2  # video "late": object 001 first shows here


def object_masks(frame: int, late: bool) -> dict[str, np.ndarray]:
    """The objects of write_video's frame: 000 the square, 001 the disc (from LATE_START in
    "late"), 002 (not in "late") the square's left half and below it: it overlaps 000."""
    h, w = VIDEO_HW
    yy, xx = np.mgrid[:h, :w]
    square = np.zeros(VIDEO_HW, bool)
    square[20:50, 10 + 8 * frame : 40 + 8 * frame] = True
    disc = ((yy - 40 - 5 * frame) ** 2 + (xx - 90) ** 2) < 15**2
    if late:
        return {"000": square, "001": disc if frame >= LATE_START else np.zeros_like(disc)}
    overlapping = np.zeros(VIDEO_HW, bool)
    overlapping[30:70, 10 + 8 * frame : 25 + 8 * frame] = True
    return {"000": square, "001": disc, "002": overlapping}


def save_object(path, mask) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask.astype(np.uint8), mode="P").save(path)


def write_sav(root, names=("together", "late")):
    for name in names:
        write_video(root / "JPEGImages_24fps" / name, num_frames=NUM_FRAMES)
        for t in ANNOTATED:
            for obj, mask in object_masks(t, name == "late").items():
                save_object(root / "Annotations_6fps" / name / obj / f"{t:05d}.png", mask)
    return root


@pytest.fixture(scope="module")
def sav(tmp_path_factory):
    return write_sav(tmp_path_factory.mktemp("sav"))


@pytest.fixture(scope="module")
def benchmark(sav, official_model, tmp_path_factory):
    hq = save_checkpoint(official_model, tmp_path_factory.mktemp("ckpt") / "hq.pt", "sam_hq")
    out = tmp_path_factory.mktemp("vos")
    record = video_eval.main([
        "--gt", str(sav), "--checkpoint", str(hq), "--out", str(out), "--device", "cpu",
    ])
    return out, record


def expected_masks(model, frames_dir, prompts, use_hq: bool) -> dict[int, list[np.ndarray]]:
    """vos_inference.py --per_obj_png_file with VideoPredictor built as it builds its predictor
    (non_overlap_masks=False): all objects together when they share the first frame, else each
    alone from its first frame, -1024 before it; no non-overlap anywhere; logits > 0."""
    predictor = VideoPredictor(model, use_hq=use_hq, fill_hole_area=0, non_overlap_masks=False)
    predictor.set_video(frames_dir)
    obj_ids = sorted(prompts)
    logits = torch.full((NUM_FRAMES, len(obj_ids), 1, *VIDEO_HW), ABSENT_LOGIT)
    if len({frame for frame, _ in prompts.values()}) == 1:
        for obj_id in obj_ids:
            predictor.add_mask(prompts[obj_id][0], obj_id, prompts[obj_id][1])
        for frame, _, frame_logits in predictor.propagate():
            logits[frame] = frame_logits
    else:
        for row, obj_id in enumerate(obj_ids):
            predictor.reset()
            first, mask = prompts[obj_id]
            predictor.add_mask(first, obj_id, mask)
            for frame, _, obj_logits in predictor.propagate(start_frame=first):
                logits[frame, row] = obj_logits[0]
    return {o: [(logits[t, row, 0] > 0).numpy() for t in range(NUM_FRAMES)]
            for row, o in enumerate(obj_ids)}


def test_each_object_is_prompted_on_its_first_annotated_frame_where_it_shows(sav, official_model):
    plans = {seq.name: seq for seq in plan_benchmark(sav, sav, per_object=True)}
    assert plans["together"].object_folders == {0: "000", 1: "001", 2: "002"}
    assert {k: f for k, (f, _) in plans["together"].prompts.items()} == {0: 0, 1: 0, 2: 0}
    assert {k: f for k, (f, _) in plans["late"].prompts.items()} == {0: 0, 1: LATE_START}
    for obj_id, (frame, mask) in plans["late"].prompts.items():
        assert (mask == object_masks(frame, late=True)[f"{obj_id:03d}"]).all()
    assert not benchmark_predictor(official_model, True, per_object=True).non_overlap_masks
    assert benchmark_predictor(official_model, True).non_overlap_masks


@pytest.mark.parametrize(("decoder", "use_hq"), [("sam2.1", False), ("hq-sam2", True)])
@pytest.mark.parametrize("name", ["together", "late"])
def test_masks_are_the_video_predictors(benchmark, sav, official_model, decoder, use_hq, name):
    out, _ = benchmark
    late = name == "late"
    prompts = {int(o): (0, m) for o, m in object_masks(0, late).items()}
    if late:
        prompts[1] = (LATE_START, object_masks(LATE_START, True)["001"])
    expected = expected_masks(official_model, sav / "JPEGImages_24fps" / name, prompts, use_hq)
    folder = out / decoder / name
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{o:03d}" for o in prompts)
    overlap = False
    for obj_id, masks in expected.items():
        for t, mask in enumerate(masks):
            with Image.open(folder / f"{obj_id:03d}" / f"{t:05d}.png") as image:
                assert image.mode == "P"
                found = np.array(image)
            assert set(np.unique(found)) <= {0, 1} and (found == mask).all(), (obj_id, t)
        if obj_id == 2:
            overlap = any((m & expected[0][t]).any() for t, m in enumerate(masks))
    if late:
        assert not any(m.any() for m in expected[1][:LATE_START]) and expected[1][LATE_START].any()
    else:
        assert overlap, "the overlapping objects' masks overlap: no non-overlap constraint"


def test_scores_equal_the_scorer_on_the_written_folders(benchmark, sav, capsys):
    out, record = benchmark
    for decoder, label in (("sam2.1", "SAM 2.1"), ("hq-sam2", "HQ-SAM 2")):
        scored = video_eval.main(["--gt", str(sav), "--pred", str(out / decoder)])
        assert scored == record[label] and scored["layout"] == "sav"
    assert set(record["HQ-SAM 2"]["sequences"]["together"]["objects"]) == {"000", "001", "002"}
    assert record["difference"]["J&F"] == pytest.approx(
        record["HQ-SAM 2"]["J&F"] - record["SAM 2.1"]["J&F"]
    )


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        ("not_an_id", "late/disc: object folders are named by their id (000, 001, ...)"),
        ("never_shows", "late/001: every annotation of object 001 is empty (all 0)"),
        ("missing_frame", "late/000/00004.png: no frame 00004 in"),
        ("no_objects", "late holds no object folders"),
    ],
)
def test_bad_input_is_one_line_before_the_model_loads(tmp_path, capsys, damage, named):
    root = write_sav(tmp_path / "sav")
    late = root / "Annotations_6fps" / "late"
    if damage == "not_an_id":
        (late / "001").rename(late / "disc")
    elif damage == "never_shows":
        for t in ANNOTATED:
            save_object(late / "001" / f"{t:05d}.png", np.zeros(VIDEO_HW, bool))
    elif damage == "missing_frame":
        (root / "JPEGImages_24fps" / "late" / "00004.jpg").unlink()
    else:
        for obj in ("000", "001"):
            for png in (late / obj).iterdir():
                png.rename(late / f"{obj}_{png.name}")
            (late / obj).rmdir()
    with pytest.raises(SystemExit) as info:
        video_eval.main([
            "--gt", str(root), "--checkpoint", str(tmp_path / "not_loaded.pt"),
            "--out", str(tmp_path / "out"), "--device", "cpu", "--layout", "sav",
        ])
    err = capsys.readouterr().err.strip()
    assert info.value.code == 2 and err.count("\n") == 0 and named in err, err
