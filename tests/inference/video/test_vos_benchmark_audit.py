"""samhq-video-eval --checkpoint with its other flags (mutation audit round 5): --split picks the
sequences both for tracking and for scoring, --score-all-frames reaches the scores, and --frames
names a frames root apart from the annotations; the plan and the written masks on the plain
layout (a later empty annotation, a hidden folder, a late object's -1024, the palette)."""

import shutil

import pytest
from PIL import Image

from samhq_train.cli import video_eval
from samhq_train.inference.video.benchmark import (
    benchmark_predictor,
    plan_benchmark,
    run_sequence,
    track_sequence,
)
from samhq_train.inference.video.command import davis_palette
from samhq_train.model import save_checkpoint

from .conftest import write_video
from .test_vos_benchmark import NUM_FRAMES, ids_of, write_davis


@pytest.fixture(scope="module")
def hq_file(official_model, tmp_path_factory):
    return save_checkpoint(official_model, tmp_path_factory.mktemp("ckpt") / "hq.pt", "sam_hq")


def test_split_all_frames_and_a_separate_frames_root(official_model, hq_file, tmp_path):
    davis = write_davis(tmp_path / "davis")
    (davis / "ImageSets" / "2017" / "train.txt").write_text("late\n")
    gt = tmp_path / "annotations_only"  # a DAVIS root without its JPEGImages
    shutil.copytree(davis / "Annotations", gt / "Annotations")
    shutil.copytree(davis / "ImageSets", gt / "ImageSets")
    record = video_eval.main([
        "--gt", str(gt), "--frames", str(davis), "--checkpoint", str(hq_file),
        "--out", str(tmp_path / "out"), "--split", "train", "--score-all-frames",
        "--device", "cpu",
    ])
    for label in ("SAM 2.1", "HQ-SAM 2"):
        assert record[label]["skip_first_and_last"] is False
        assert list(record[label]["sequences"]) == ["late"]
        assert record[label]["sequences"]["late"]["frames"] == NUM_FRAMES
    assert sorted(p.name for p in (tmp_path / "out" / "sam2.1").iterdir()) == ["late"]


def write_plain(root, palette=None, empty_frame=None, late_start=None):
    """<root>/frames/seq/ and <root>/gt/seq/ (the plain layout) of write_video's frames, ids as
    test_vos_benchmark's ids_of (object 2 from late_start), one all-0 annotation at
    empty_frame, a hidden folder beside the sequence, a custom palette."""
    write_video(root / "frames" / "seq", num_frames=NUM_FRAMES)
    masks = root / "gt" / "seq"
    masks.mkdir(parents=True)
    (root / "gt" / ".ipynb_checkpoints").mkdir()
    for i in range(NUM_FRAMES):
        ids = ids_of(i, late=False)
        if late_start is not None and i < late_start:
            ids[ids == 2] = 0
        if i == empty_frame:
            ids[:] = 0
        picture = Image.fromarray(ids, mode="P")
        picture.putpalette(palette or davis_palette())
        picture.save(masks / f"{i:05d}.png")
    return root / "frames", root / "gt"


def test_later_empty_annotations_and_hidden_folders_are_fine(tmp_path):
    frames, gt = write_plain(tmp_path, empty_frame=2)
    (seq,) = plan_benchmark(frames, gt)
    assert seq.name == "seq" and sorted(seq.prompts) == [1, 2]
    assert {frame for frame, _ in seq.prompts.values()} == {0}


def test_objects_not_yet_tracked_score_minus_1024(official_model, tmp_path):
    """vos_inference's score of an object before its first frame: -1024 (its PNG: background)."""
    frames, gt = write_plain(tmp_path, late_start=2)
    (seq,) = plan_benchmark(frames, gt)
    assert seq.prompts[1][0] == 0 and seq.prompts[2][0] == 2
    out = list(track_sequence(benchmark_predictor(official_model, use_hq=False), seq))
    assert [frame for frame, _, _ in out] == list(range(NUM_FRAMES))
    for _, obj_ids, logits in out[:2]:
        assert obj_ids == [1, 2] and (logits[1] == -1024.0).all()
    assert (out[2][2][1] > 0).any()


def test_masks_carry_the_annotations_palette(official_model, tmp_path):
    palette = [(7 * i) % 256 for i in range(768)]
    frames, gt = write_plain(tmp_path, palette=palette)
    (seq,) = plan_benchmark(frames, gt)
    run_sequence(benchmark_predictor(official_model, use_hq=False), seq, tmp_path / "out")
    written = sorted((tmp_path / "out" / "seq").glob("*.png"))
    assert len(written) == NUM_FRAMES
    assert all(Image.open(p).getpalette() == palette for p in written)


def test_frames_given_as_the_480p_folder_itself(tmp_path):
    davis = write_davis(tmp_path / "davis", names=("together",))
    by_root = plan_benchmark(davis, davis)
    by_folder = plan_benchmark(davis / "JPEGImages" / "480p", davis)
    assert [s.frames for s in by_root] == [s.frames for s in by_folder]
    assert len(by_folder[0].frames) == NUM_FRAMES


def test_annotations_are_read_in_frame_order_not_name_order(tmp_path):
    """Frames 8, 9, 10, 11 (number order): object 2 first shows on 9, so it is prompted there,
    not on 10 (which sorts first by name)."""
    source = write_video(tmp_path / "source", num_frames=4)
    frames, gt = tmp_path / "frames" / "seq", tmp_path / "gt" / "seq"
    frames.mkdir(parents=True)
    gt.mkdir(parents=True)
    for i, path in enumerate(sorted(source.iterdir())):
        shutil.copy(path, frames / f"{8 + i}.jpg")
        ids = ids_of(i, late=False)
        if i == 0:
            ids[ids == 2] = 0
        picture = Image.fromarray(ids, mode="P")
        picture.putpalette(davis_palette())
        picture.save(gt / f"{8 + i}.png")
    (seq,) = plan_benchmark(tmp_path / "frames", tmp_path / "gt")
    assert [p.name for p in seq.frames] == ["8.jpg", "9.jpg", "10.jpg", "11.jpg"]
    assert seq.prompts[1][0] == 0 and seq.prompts[2][0] == 1
