"""The semi-supervised VOS benchmark (samhq-video-eval --checkpoint) on a synthetic DAVIS root:
its PNGs are VideoPredictor's masks from the first-appearance mask prompts (vos_inference.py's
protocol), both decoders run on one weights file, its scores are samhq-video-eval's on the
written folders, and bad input is one line, exit 2, before the model loads."""

import shlex
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from samhq_train.cli import video_eval
from samhq_train.inference.video.benchmark import (
    ABSENT_LOGIT,
    benchmark_predictor,
    plan_benchmark,
    run_sequence,
)
from samhq_train.inference.video.command import davis_palette, id_mask
from samhq_train.inference.video.predictor import VideoPredictor
from samhq_train.model import build_sam_hq, save_checkpoint, without_hq
from samhq_train.model.sam2.tracking import non_overlapping
from tests.documentation import documented_commands
from tests.reference import random_tiny_model, randomize_

from .conftest import VIDEO_HW, write_video

NUM_FRAMES = 4
LATE_START = 2  # sequence "late": object 2 first shows on this frame


def ids_of(frame: int, late: bool) -> np.ndarray:
    """The objects of write_video's frame as ids: 1 the square, 2 the disc (from LATE_START in
    sequence "late")."""
    h, w = VIDEO_HW
    yy, xx = np.mgrid[:h, :w]
    ids = np.zeros(VIDEO_HW, np.uint8)
    ids[20:50, 10 + 8 * frame : 40 + 8 * frame] = 1
    if not late or frame >= LATE_START:
        ids[((yy - 40 - 5 * frame) ** 2 + (xx - 90) ** 2) < 15**2] = 2
    return ids


def save_indexed(path, ids) -> None:
    picture = Image.fromarray(ids, mode="P")
    picture.putpalette(davis_palette())
    picture.save(path)


def write_davis(root, names=("together", "late")):
    for name in names:
        write_video(root / "JPEGImages" / "480p" / name, num_frames=NUM_FRAMES)
        masks = root / "Annotations" / "480p" / name
        masks.mkdir(parents=True)
        for i in range(NUM_FRAMES):
            save_indexed(masks / f"{i:05d}.png", ids_of(i, name == "late"))
    (root / "ImageSets" / "2017").mkdir(parents=True)
    (root / "ImageSets" / "2017" / "val.txt").write_text("\n".join(names) + "\n")
    return root


@pytest.fixture(scope="module")
def davis(tmp_path_factory):
    return write_davis(tmp_path_factory.mktemp("davis"))


@pytest.fixture(scope="module")
def hq_file(official_model, tmp_path_factory):
    return save_checkpoint(official_model, tmp_path_factory.mktemp("ckpt") / "hq.pt", "sam_hq")


@pytest.fixture(scope="module")
def benchmark(davis, hq_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("vos")
    record = video_eval.main([
        "--gt", str(davis), "--checkpoint", str(hq_file), "--out", str(out), "--device", "cpu",
        "--json", str(out / "scores.json"),
    ])
    return out, record


def expected_masks(model, frames_dir, prompts, use_hq: bool) -> list[np.ndarray]:
    """vos_inference.py's rule with VideoPredictor (built as vos_inference builds its
    predictor): all objects prompted together when they share the first frame, else each
    tracked alone from its first frame, -1024 elsewhere, non-overlapping; ids of logits > 0."""
    predictor = VideoPredictor(model, use_hq=use_hq, fill_hole_area=0, non_overlap_masks=True)
    predictor.set_video(frames_dir)
    obj_ids = sorted(prompts)
    if len({frame for frame, _ in prompts.values()}) == 1:
        for obj_id in obj_ids:
            predictor.add_mask(prompts[obj_id][0], obj_id, prompts[obj_id][1])
        return [id_mask(ids, logits) for _, ids, logits in predictor.propagate()]
    logits = torch.full((NUM_FRAMES, len(obj_ids), 1, *VIDEO_HW), ABSENT_LOGIT)
    for row, obj_id in enumerate(obj_ids):
        predictor.reset()
        first, mask = prompts[obj_id]
        predictor.add_mask(first, obj_id, mask)
        for frame, _, obj_logits in predictor.propagate(start_frame=first):
            logits[frame, row] = obj_logits[0]
    return [id_mask(obj_ids, non_overlapping(frame_logits)) for frame_logits in logits]


def test_sparse_annotations_start_on_the_first_annotated_frame(davis, official_model, tmp_path):
    """Plain layout, annotations on frames 1 and 3 only: the prompts are frame 1's masks, frame
    0 is background, frames 1.. are VideoPredictor's from frame 1."""
    masks = tmp_path / "masks" / "together"
    masks.mkdir(parents=True)
    for i in (1, 3):
        shutil.copy(davis / "Annotations" / "480p" / "together" / f"{i:05d}.png", masks)
    frames = davis / "JPEGImages" / "480p"
    (seq,) = plan_benchmark(frames, tmp_path / "masks")
    assert {k: f for k, (f, _) in seq.prompts.items()} == {1: 1, 2: 1}
    run_sequence(benchmark_predictor(official_model, use_hq=True), seq, tmp_path / "out")
    found = written(tmp_path / "out" / "together")
    predictor = VideoPredictor(official_model, fill_hole_area=0, non_overlap_masks=True)
    predictor.set_video(frames / "together")
    for obj_id in (1, 2):
        predictor.add_mask(1, obj_id, ids_of(1, late=False) == obj_id)
    expected = [id_mask(ids, logits) for _, ids, logits in predictor.propagate()]
    assert not found[0].any() and len(expected) == NUM_FRAMES - 1
    for e, f in zip(expected, found[1:]):
        assert (e == f).all()


def written(folder) -> list[np.ndarray]:
    return [np.array(Image.open(folder / f"{i:05d}.png")) for i in range(NUM_FRAMES)]


def test_late_objects_are_prompted_on_their_first_frame(davis):
    plans = {seq.name: seq for seq in plan_benchmark(davis, davis)}
    assert [len(plans["together"].frames), len(plans["late"].frames)] == [NUM_FRAMES] * 2
    assert {k: f for k, (f, _) in plans["together"].prompts.items()} == {1: 0, 2: 0}
    assert {k: f for k, (f, _) in plans["late"].prompts.items()} == {1: 0, 2: LATE_START}
    for obj_id, (frame, mask) in plans["late"].prompts.items():
        assert (mask == (ids_of(frame, late=True) == obj_id)).all()


@pytest.mark.parametrize(("decoder", "use_hq"), [("sam2.1", False), ("hq-sam2", True)])
@pytest.mark.parametrize("name", ["together", "late"])
def test_masks_are_the_video_predictors(benchmark, davis, official_model, decoder, use_hq, name):
    out, _ = benchmark
    prompts = {o: (0, ids_of(0, name == "late") == o) for o in (1, 2)}
    if name == "late":
        prompts[2] = (LATE_START, ids_of(LATE_START, True) == 2)
    frames = davis / "JPEGImages" / "480p" / name
    expected = expected_masks(official_model, frames, prompts, use_hq)
    found = written(out / decoder / name)
    for i, (e, f) in enumerate(zip(expected, found)):
        assert f.dtype == np.uint8 and (f == e).all(), (decoder, name, i)
    assert all((f == 1).any() for f in found)
    if name == "late":
        assert not any((f == 2).any() for f in found[:LATE_START])
        assert (found[LATE_START] == 2).any()


def test_both_decoders_on_the_same_weights(benchmark):
    out, record = benchmark
    assert set(record) == {"SAM 2.1", "HQ-SAM 2", "difference"}
    hq, sam = record["HQ-SAM 2"], record["SAM 2.1"]
    assert hq["pred"] == str(out / "hq-sam2") and sam["pred"] == str(out / "sam2.1")
    assert any((a != b).any() for a, b in zip(written(out / "sam2.1" / "together"),
                                              written(out / "hq-sam2" / "together")))
    for key in ("J&F", "J", "F"):
        assert record["difference"][key] == pytest.approx(hq[key] - sam[key])
    assert set(hq["sequences"]) == {"together", "late"}


def test_scores_equal_the_scorer_on_the_written_folders(benchmark, davis):
    out, record = benchmark
    for decoder, label in (("sam2.1", "SAM 2.1"), ("hq-sam2", "HQ-SAM 2")):
        scored = video_eval.main(["--gt", str(davis), "--pred", str(out / decoder)])
        assert scored == record[label]


def test_the_table_prints_both_rows_and_the_difference(benchmark, davis, hq_file, capsys):
    out, record = benchmark
    assert video_eval.main([
        "--gt", str(davis), "--checkpoint", str(hq_file), "--out", str(out), "--device", "cpu",
        "--overwrite",
    ]) == record
    text = capsys.readouterr().out
    lines = text.splitlines()
    head = next(i for i, line in enumerate(lines) if "difference" in line)
    assert lines[head].split() == ["SAM", "2.1", "HQ-SAM", "2", "difference"]
    assert lines[head + 1].split() == ["sequence", *["J&F", "J", "F"] * 3]
    rows = {line.split()[0]: line.split()[-9:] for line in lines[head + 2 : head + 5]}
    assert list(rows) == ["together", "late", "overall"]
    sam, hq, diff = record["SAM 2.1"], record["HQ-SAM 2"], record["difference"]
    expected = [f"{r[k]:.1f}" for r in (sam, hq) for k in ("J&F", "J", "F")]
    expected += [f"{diff[k]:+.1f}" for k in ("J&F", "J", "F")]
    assert rows["overall"] == expected
    late = [f"{r['sequences']['late'][k]:.1f}" for r in (sam, hq) for k in ("J&F", "J", "F")]
    assert rows["late"][:6] == late


def test_a_sam2_file_without_hq_parts_runs_sam2_only(davis, official_model, tmp_path, capsys):
    meta = tmp_path / "sam2.1.pt"
    torch.save({"model": without_hq(official_model.state_dict())}, meta)
    record = video_eval.main([
        "--gt", str(davis), "--checkpoint", str(meta), "--out", str(tmp_path / "o"),
        "--device", "cpu", "--split", "val",
    ])
    assert list(record) == ["SAM 2.1"] and not (tmp_path / "o" / "hq-sam2").exists()
    notes = [line for line in capsys.readouterr().err.splitlines() if line.startswith("note: ")]
    assert notes == [f"note: {meta} holds no HQ parts (a plain SAM 2.1 checkpoint): decoding as "
                     "plain SAM 2.1 (no HQ token); for SAM-HQ masks give a checkpoint with "
                     "trained HQ parts, or train them (python train.py)"]


def run_main(args):
    with pytest.raises(SystemExit) as exit_:
        video_eval.main(args)
    return exit_.value.code


@pytest.mark.parametrize(
    ("damage", "named"),
    [
        ("missing_frame", "late/00003.png: no frame 00003 in"),
        ("size", "late/00001.png is 64x48 but its frame"),
        ("empty_first", "late/00000.png: the first annotated frame of late holds no object"),
        ("existing_out", "pass --overwrite"),
        ("no_frames", "sequence late: "),
        ("plain_without_frames", "holds the annotations, not their frames: give the frames' root"),
        ("variant", "--variant vit_b is a sam1 model"),
    ],
)
def test_bad_input_is_one_line_before_the_model_loads(tmp_path, capsys, damage, named):
    root = write_davis(tmp_path / "davis")
    late = root / "Annotations" / "480p" / "late"
    out = tmp_path / "out"
    extra = []
    if damage == "missing_frame":
        (root / "JPEGImages" / "480p" / "late" / "00003.jpg").unlink()
    elif damage == "size":
        save_indexed(late / "00001.png", np.zeros((48, 64), np.uint8))
    elif damage == "empty_first":
        save_indexed(late / "00000.png", np.zeros(VIDEO_HW, np.uint8))
    elif damage == "no_frames":
        shutil.rmtree(root / "JPEGImages" / "480p" / "late")
    elif damage == "plain_without_frames":
        root = root / "Annotations" / "480p"
    elif damage == "existing_out":
        (out / "hq-sam2" / "together").mkdir(parents=True)
        (out / "hq-sam2" / "together" / "00000.png").write_bytes(b"")
    else:
        extra = ["--variant", "vit_b"]
    code = run_main([
        "--gt", str(root), "--checkpoint", str(tmp_path / "not_loaded.pt"), "--out", str(out),
        "--device", "cpu", *extra,
    ])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.count("\n") == 0 and named in err, err


def test_a_non_sam2_checkpoint_is_refused(davis, tmp_path, capsys):
    sam1 = save_checkpoint(random_tiny_model(), tmp_path / "sam1.pt", "sam_hq")
    assert run_main([
        "--gt", str(davis), "--checkpoint", str(sam1), "--out", str(tmp_path / "o"),
        "--device", "cpu",
    ]) == 2
    assert "video tracking needs an HQ-SAM 2 / SAM 2.1 model" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--checkpoint", "x.pt"], "--checkpoint needs --out"),
        (["--pred", "p", "--out", "o"], "--out goes with --checkpoint"),
        (["--pred", "p", "--checkpoint", "x.pt"], "not allowed with argument"),
    ],
)
def test_flag_combinations(args, named, capsys):
    assert run_main(["--gt", "g", *args]) == 2
    assert named in capsys.readouterr().err


README_COMMANDS = [  # the DAVIS ones (the SA-V one, on /path/ files, is only parsed)
    c.text for c in documented_commands()
    if c.program == "samhq-video-eval" and "--checkpoint" in c.args and "/path/" not in c.text
    and "<run>" not in c.text  # the video demo's export: a trained run (tests/training/video/)
]


def test_the_readme_shows_benchmark_commands():
    assert len(README_COMMANDS) == 2


@pytest.mark.parametrize("text", README_COMMANDS)
def test_readme_benchmark_command_runs(text, benchmark, davis, hq_file, tmp_path):
    """As written, on the synthetic DAVIS root, or its sequences copied to the plain layout
    (my_videos/frames/<seq>/, my_videos/masks/<seq>/): the same scores either way."""
    plain = tmp_path / "my_videos"
    shutil.copytree(davis / "JPEGImages" / "480p", plain / "frames")
    shutil.copytree(davis / "Annotations" / "480p", plain / "masks")
    stand_ins = {
        "DAVIS/": str(davis), "my_videos/frames": str(plain / "frames"),
        "my_videos/masks": str(plain / "masks"), "sam2.1_hq_hiera_l.pt": str(hq_file),
        "vos/": str(tmp_path / "vos"), "vos.json": str(tmp_path / "vos.json"),
    }
    args = [stand_ins.get(a, a) for a in shlex.split(text)[1:]]
    record = video_eval.main([*args, "--device", "cpu"])
    assert (tmp_path / "vos" / "hq-sam2" / "late" / "00003.png").is_file()
    assert (tmp_path / "vos.json").is_file() == ("--json" in args)
    for label in ("SAM 2.1", "HQ-SAM 2"):
        assert record[label]["sequences"] == benchmark[1][label]["sequences"]


def test_an_hq_sam3_file_runs_sam3_and_hq_sam3(davis, tmp_path):
    """The same benchmark with an HQ-SAM 3 file: rows and folders named for SAM 3, its masks
    VideoPredictor's with the vos_inference rule."""
    model = randomize_(build_sam_hq("sam3_hq_demo", seed=0), seed=4, scale=0.05)
    with torch.no_grad():  # objects present, so the masks are not empty
        model.sam_mask_decoder.pred_obj_score_head.layers[2].bias += 4.0
    path = save_checkpoint(model.eval(), tmp_path / "sam3_hq.pt", "sam_hq")
    out = tmp_path / "vos"
    record = video_eval.main([
        "--gt", str(davis), "--checkpoint", str(path), "--out", str(out), "--device", "cpu",
    ])
    assert set(record) == {"SAM 3", "HQ-SAM 3", "difference"}
    assert sorted(p.name for p in out.iterdir()) == ["hq-sam3", "sam3"]
    args = ["--gt", str(davis), "--checkpoint", str(path), "--out", str(out), "--device", "cpu"]
    loaded = video_eval.load_model(video_eval.parse_args(args))[0]
    (seq,) = [s for s in plan_benchmark(davis, davis) if s.name == "together"]
    frames = davis / "JPEGImages" / "480p" / "together"
    for folder, use_hq in (("sam3", False), ("hq-sam3", True)):
        expected = expected_masks(loaded, frames, seq.prompts, use_hq)
        for e, f in zip(expected, written(out / folder / "together")):
            assert (e == f).all(), folder
