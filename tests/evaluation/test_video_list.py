"""samhq-video-eval --video-list (SA-V's sav_val.txt / sav_test.txt, one video a line, as SAM 2's
tools/vos_inference.py --video_list_file reads it): only the listed videos are scored, every one
checked up front. The scores equal the official SA-V evaluator's (sav_benchmark.py, its
per-object figures stored in tests/fixtures/sav_eval_official.json) over the listed videos'
objects: what it reports for a GT and prediction holding just those videos."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from samhq_train.cli import video_eval
from samhq_train.evaluation.video import VideoInputError, plan_evaluation, read_video_list
from samhq_train.evaluation.video.folders import gt_sequences
from tests.evaluation.sav_data import masks_digest, write_sav_dataset
from tests.evaluation.video_data import write_indexed

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sav_eval_official.json"
LISTED = ["sav_000003", "sav_000001"]  # (sav_000002 is left out: its prediction is removed)


@pytest.fixture(scope="module")
def sav_root(tmp_path_factory):
    """An SA-V val root (Annotations_6fps/ and sav_val.txt), and the predictions' root without
    the unlisted video."""
    root = tmp_path_factory.mktemp("list")
    gt, pred = write_sav_dataset(root / "set", seed=0, overlapping=True)
    shutil.copytree(gt, root / "sav_val" / "Annotations_6fps")
    shutil.rmtree(pred / "sav_000002")
    (root / "sav_val" / "sav_val.txt").write_text("\n".join(LISTED) + "\n\n")
    return root / "sav_val", pred


def test_only_the_listed_videos_are_scored_as_the_official_evaluator(sav_root, capsys):
    root, pred = sav_root
    official = json.loads(FIXTURE.read_text())["sets"]["overlapping"]
    assert masks_digest(0, True) == official["digest"], "sav_data.py changed"
    record = video_eval.main([
        "--gt", str(root), "--pred", str(pred), "--video-list", str(root / "sav_val.txt"),
    ])
    assert list(record["sequences"]) == LISTED  # in the list's order
    assert record["video_list"] == str(root / "sav_val.txt")
    objects = official["skip_first_last"]["objects"]
    js = [j for video in LISTED for j, _ in objects[video].values()]
    fs = [f for video in LISTED for _, f in objects[video].values()]
    expected = {"J": np.mean(js), "F": np.mean(fs), "J&F": (np.mean(js) + np.mean(fs)) / 2}
    worst = max(abs(record[k] - v) for k, v in expected.items())
    print(f"2 of 3 videos listed: J&F {record['J&F']:.6f}, "
          f"official over their objects {expected['J&F']:.6f}, |difference| {worst:.2g}")
    assert worst <= 1e-9
    assert "2 videos" in capsys.readouterr().out
    with pytest.raises(SystemExit) as info:  # without the list: the unlisted video is missing
        video_eval.main(["--gt", str(root), "--pred", str(pred)])
    assert info.value.code == 2


def run_main(args, capsys) -> str:
    with pytest.raises(SystemExit) as info:
        video_eval.main([str(a) for a in args])
    (line,) = capsys.readouterr().err.splitlines()
    assert info.value.code == 2 and line.startswith("error: ")
    return line


@pytest.mark.parametrize(
    ("content", "named"),
    [
        ("sav_000001\nsav_000009\n", "lists sav_000009, but"),
        ("sav_000001\n sav_000001 \n", "lists sav_000001 twice"),
        ("../sav_000001\n", "'../sav_000001' is not a video folder's name"),
        ("\n  \n", "lists no video"),
        (None, "no such file"),
    ],
    ids=["missing", "twice", "path", "empty", "no_file"],
)
def test_a_bad_list_is_one_line_before_anything_is_scored(sav_root, tmp_path, capsys, content,
                                                         named):
    root, pred = sav_root
    listing = tmp_path / "list.txt"
    if content is not None:
        listing.write_text(content)
    line = run_main(["--gt", root, "--pred", pred, "--video-list", listing], capsys)
    assert f"--video-list {listing}" in line and named in line, line
    if content == "sav_000001\nsav_000009\n":
        assert str(root / "Annotations_6fps" / "sav_000009") in line


def test_a_listed_video_without_its_prediction_is_named(sav_root, tmp_path, capsys):
    root, pred = sav_root
    listing = tmp_path / "list.txt"
    listing.write_text("sav_000002\n")
    line = run_main(["--gt", root, "--pred", pred, "--video-list", listing], capsys)
    assert f"{pred / 'sav_000002'}: missing: the GT has video sav_000002" in line


def test_the_list_reads_as_vos_inference_and_fits_davis_roots_too(tmp_path):
    listing = tmp_path / "val.txt"
    listing.write_bytes(b"  b \r\na\n\n")
    assert read_video_list(listing).names == ["b", "a"]
    davis = tmp_path / "davis"
    for name in ("a", "b", "c"):
        (davis / "Annotations" / "480p" / name).mkdir(parents=True)
    (davis / "ImageSets" / "2017").mkdir(parents=True)
    (davis / "ImageSets" / "2017" / "val.txt").write_text("c\n")
    folder, names = gt_sequences(davis, "val", read_video_list(listing))
    assert folder == davis / "Annotations" / "480p" and names == ["b", "a"]  # not val.txt's
    one = tmp_path / "one"
    write_indexed(one / "00000.png", np.ones((4, 4), np.uint8))
    with pytest.raises(VideoInputError, match="one sequence's masks; --video-list goes with"):
        plan_evaluation(one, tmp_path / "pred", videos=read_video_list(listing))
