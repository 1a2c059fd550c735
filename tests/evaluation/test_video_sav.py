"""The SA-V layout of samhq-video-eval (<video>/<object>/<frame>.png, one binary mask per object):
J, F, J&F equal to SAM 2's official SA-V evaluator (sav_dataset/utils/sav_benchmark.py, its
figures stored by tests/fixtures/make_sav_eval_fixture.py) on the synthetic sets of sav_data.py,
per object and overall, with and without the first and last annotated frame; on masks without
overlaps equal to vos-benchmark on the same masks in the DAVIS layout; the layout told apart
(or one line asking for --layout); bad SA-V input as one line naming the file or folder."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from samhq_train.cli import video_eval
from samhq_train.evaluation.video import (
    SavSequence,
    VideoInputError,
    gt_layout,
    plan_evaluation,
    score_sequences,
)
from tests.evaluation.sav_data import (
    VIDEOS,
    masks_digest,
    write_davis_merge,
    write_sav_dataset,
)
from tests.evaluation.video_data import write_indexed

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "sav_eval_official.json"
TOLERANCE = 1e-9  # percent points; the figures come out identical (0.0 difference)
SKIPS = {"skip_first_last": True, "all_frames": False}


@pytest.fixture(scope="module")
def official():
    return json.loads(FIXTURE.read_text())


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("sav")
    return {
        "overlapping": write_sav_dataset(root / "overlapping", seed=0, overlapping=True),
        "disjoint": write_sav_dataset(root / "disjoint", seed=0, overlapping=False),
    }


def scores(gt, pred, skip: bool):
    plans = plan_evaluation(gt, pred, skip_first_and_last=skip)
    return plans, *score_sequences(plans, show_progress=False)


def largest_difference(sequences, overall, reference) -> float:
    worst = max(abs(getattr(overall, k) - reference[n]) for k, n in
                (("jf", "J&F"), ("j", "J"), ("f", "F")))
    assert {s.name: sorted(s.objects) for s in sequences} == {
        video: sorted(objects) for video, objects in reference["objects"].items()
    }
    for seq in sequences:
        for obj, score in seq.objects.items():
            j, f = reference["objects"][seq.name][obj]
            worst = max(worst, abs(score.j - j), abs(score.f - f))
    return worst


@pytest.mark.parametrize("skip", SKIPS, ids=list(SKIPS))
@pytest.mark.parametrize("name", ["overlapping", "disjoint"])
def test_scores_equal_the_official_sav_evaluator(sets, official, name, skip):
    reference = official["sets"][name]
    assert masks_digest(0, name == "overlapping") == reference["digest"], "sav_data.py changed"
    plans, sequences, overall = scores(*sets[name], SKIPS[skip])
    assert all(isinstance(plan, SavSequence) for plan in plans)
    worst = largest_difference(sequences, overall, reference[skip])
    print(f"{name} {skip}: J&F {overall.jf:.6f} (official {reference[skip]['J&F']:.6f}); "
          f"largest |difference| {worst:.3g} percent points")
    assert worst <= TOLERANCE


def test_the_sets_hold_the_cases(sets):
    """Each object on its own annotated frames (002 of the first video has one fewer), every
    4th frame only, the prediction-only object 009 not read, 003 scored from the frame where
    its prediction shows, before its GT."""
    (first, *_), sequences, _ = scores(*sets["overlapping"], True)
    n = VIDEOS["sav_000001"][2]
    annotated = len(range(0, n, 4))
    assert {obj: len(f.gt) for obj, f in first.objects.items()} == {
        "000": annotated - 2, "001": annotated - 2, "002": annotated - 3, "003": annotated - 2,
    }
    assert all(path.stem == f"{4 * (i + 1):05d}" for i, path in enumerate(first.objects["000"].gt))
    video = sequences[0]
    gt_shows = sum(1 for t in range(4, n - 1, 4) if t >= n // 2 - 4)
    assert video.objects["003"].frames > gt_shows
    assert "009" not in video.objects


def test_without_overlaps_the_layouts_score_the_same(sets, official, tmp_path):
    """The official evaluator gives vos-benchmark's figures on the DAVIS merge of the disjoint
    set (stored), and our SA-V scores equal both; vos-benchmark run here when installed."""
    for skip in SKIPS:
        merged = official["davis_merge"][skip]
        davis_objects = {
            video: {f"{int(obj) - 1:03d}": v for obj, v in objects.items()}
            for video, objects in merged["vos_benchmark"]["objects"].items()
        }
        assert merged["sav_evaluator"] == merged["vos_benchmark"]
        assert davis_objects == official["sets"]["disjoint"][skip]["objects"]
        _, sequences, overall = scores(*sets["disjoint"], SKIPS[skip])
        assert largest_difference(sequences, overall, merged["vos_benchmark"] | {
            "objects": davis_objects
        }) <= TOLERANCE
    benchmark = pytest.importorskip("vos_benchmark.benchmark").benchmark
    pytest.importorskip("skimage.morphology")
    gt, pred = write_davis_merge(tmp_path, seed=0)
    _, _, overall = scores(*sets["disjoint"], True)
    jf, j, f, _ = benchmark([str(gt)], [str(pred)], num_processes=1, verbose=False)
    assert (overall.jf, overall.j, overall.f) == pytest.approx((jf[0], j[0], f[0]), abs=1e-9)


def test_the_layout_is_told_apart_or_asked_for(sets, tmp_path):
    gt, pred = sets["overlapping"]
    assert gt_layout(gt) == "sav" and gt_layout(gt.parent.parent / "disjoint" / "gt") == "sav"
    davis = tmp_path / "davis"
    write_indexed(davis / "seq" / "00000.png", np.ones((4, 4), np.uint8))
    assert gt_layout(davis) == "davis" and gt_layout(davis / "seq") == "davis"
    assert gt_layout(gt, layout="davis") == "davis"
    mixed = tmp_path / "mixed"
    shutil.copytree(gt, mixed)
    shutil.copytree(davis / "seq", mixed / "seq")
    with pytest.raises(VideoInputError, match=r"cannot tell the layout: seq/ holds PNG frames "
                       r".* but sav_000001/ object folders .*pass --layout davis or --layout sav"):
        gt_layout(mixed)
    write_indexed(mixed / "sav_000001" / "00000.png", np.ones((4, 4), np.uint8))
    with pytest.raises(VideoInputError, match="sav_000001 holds both PNG frames"):
        gt_layout(mixed)
    with pytest.raises(VideoInputError, match="seq holds no object folders"):
        plan_evaluation(mixed, pred, layout="sav")


def run_main(args, capsys):
    with pytest.raises(SystemExit) as info:
        video_eval.main([str(a) for a in args])
    (line,) = capsys.readouterr().err.splitlines()
    assert info.value.code == 2 and line.startswith("error: ")
    return line


def _copy(sets, tmp_path):
    gt, pred = sets["overlapping"]
    shutil.copytree(gt, tmp_path / "gt")
    shutil.copytree(pred, tmp_path / "pred")
    return tmp_path / "gt", tmp_path / "pred"


def test_bad_sav_input_is_one_line(sets, tmp_path, capsys):
    gt, pred = _copy(sets, tmp_path)
    shutil.rmtree(pred / "sav_000002" / "001")
    line = run_main(["--gt", gt, "--pred", pred], capsys)
    assert f"{pred / 'sav_000002' / '001'}: missing: the GT has object sav_000002/001" in line
    shutil.copytree(pred / "sav_000002" / "000", pred / "sav_000002" / "001")
    (pred / "sav_000003" / "002" / "00008.png").unlink()
    line = run_main(["--gt", gt, "--pred", pred], capsys)
    assert f"error: {pred / 'sav_000003' / '002' / '00008.png'}: missing" in line
    shutil.rmtree(pred / "sav_000003")
    write_indexed(pred / "sav_000003" / "00004.png", np.ones((270, 480), np.uint8))
    line = run_main(["--gt", gt, "--pred", pred], capsys)
    assert "holds PNG frames (the DAVIS layout) but the GT" in line
    shutil.rmtree(pred / "sav_000003")
    shutil.copytree(sets["overlapping"][1] / "sav_000003", pred / "sav_000003")
    Image.new("RGB", (64, 120)).save(pred / "sav_000002" / "000" / "00008.png")
    line = run_main(["--gt", gt, "--pred", pred], capsys)
    assert "00008.png: a mode RGB image (colours, not ids), not a mode P / L / 1 mask" in line
    assert "one-channel PNG" in line
    write_indexed(pred / "sav_000002" / "000" / "00008.png", np.arange(120 * 64).reshape(120, 64))
    line = run_main(["--gt", gt, "--pred", pred], capsys)
    assert "00008.png: 256 different values, more than one object" in line


def test_an_object_without_gt_in_the_scored_frames_is_not_reported(tmp_path):
    """sav_evaluator stops on such an object (no score to consolidate); it is left out, as
    vos-benchmark leaves out ids that are not in the GT."""
    for obj, shows in (("000", True), ("001", False)):
        for t in range(4):
            mask = np.zeros((8, 9), np.uint8)
            mask[2:5, 3:7] = shows or t == 0  # 001: only on the first frame, not scored
            write_indexed(tmp_path / "gt" / "v" / obj / f"{t:05d}.png", mask)
            write_indexed(tmp_path / "pred" / "v" / obj / f"{t:05d}.png", mask)
    _, (video,), overall = scores(tmp_path / "gt", tmp_path / "pred", True)
    assert list(video.objects) == ["000"] and video.frames == 2 and overall.objects == 1
    assert overall.jf == 100.0


def test_the_command_scores_an_sav_root(sets, tmp_path, capsys):
    gt, pred = sets["overlapping"]
    root = tmp_path / "sav_val"
    shutil.copytree(gt, root / "Annotations_6fps")
    record = video_eval.main(["--gt", str(root), "--pred", str(pred), "--json",
                              str(tmp_path / "s.json")])
    printed = capsys.readouterr().out
    assert "3 videos, 43 object masks scored (first and last frames not scored)" in printed
    assert record["layout"] == "sav" and record["objects"] == 12
    assert list(record["sequences"]["sav_000001"]["objects"]) == ["000", "001", "002", "003"]
    assert json.loads((tmp_path / "s.json").read_text()) == record
    line = run_main(["--gt", root, "--pred", pred, "--layout", "davis"], capsys)
    assert "holds no PNG masks" in line
