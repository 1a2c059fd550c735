"""samhq-video-eval --checkpoint --video-list on an SA-V root: only the listed videos are tracked
(as vos_inference.py --video_list_file) and scored, the masks the same as without the list; a
listed video missing from the annotations is one error line before the model loads."""

import shutil

import numpy as np
import pytest
from PIL import Image

from samhq_train.cli import video_eval
from samhq_train.model import save_checkpoint

from .test_vos_sav_benchmark import write_sav


@pytest.fixture(scope="module")
def listed_run(official_model, tmp_path_factory):
    root = write_sav(tmp_path_factory.mktemp("sav"))
    (root / "sav_val.txt").write_text("late\n")
    hq = save_checkpoint(official_model, tmp_path_factory.mktemp("ckpt") / "hq.pt", "sam_hq")
    out = tmp_path_factory.mktemp("vos")
    record = video_eval.main([
        "--gt", str(root), "--checkpoint", str(hq), "--out", str(out), "--device", "cpu",
        "--video-list", str(root / "sav_val.txt"),
    ])
    return root, hq, out, record


def test_only_the_listed_videos_are_tracked_and_scored(listed_run, tmp_path, capsys):
    root, hq, out, record = listed_run
    for decoder, label in (("sam2.1", "SAM 2.1"), ("hq-sam2", "HQ-SAM 2")):
        assert [p.name for p in (out / decoder).iterdir()] == ["late"]
        assert list(record[label]["sequences"]) == ["late"]
        assert record[label]["video_list"] == str(root / "sav_val.txt")
    # the same masks as a run on a root that holds only that video
    alone = tmp_path / "alone"
    for part in ("JPEGImages_24fps", "Annotations_6fps"):
        shutil.copytree(root / part / "late", alone / part / "late")
    video_eval.main(["--gt", str(alone), "--checkpoint", str(hq), "--out", str(tmp_path / "o"),
                     "--device", "cpu"])
    compared = 0
    for png in sorted((out / "hq-sam2" / "late").rglob("*.png")):
        twin = tmp_path / "o" / "hq-sam2" / png.relative_to(out / "hq-sam2")
        with Image.open(png) as a, Image.open(twin) as b:
            assert (np.array(a) == np.array(b)).all(), png
        compared += 1
    assert compared == 10  # 2 objects x 5 frames


def test_a_listed_video_not_in_the_annotations_stops_before_the_model_loads(
    listed_run, tmp_path, capsys
):
    root = listed_run[0]
    listing = tmp_path / "list.txt"
    listing.write_text("late\nmissing\n")
    with pytest.raises(SystemExit) as info:
        video_eval.main([
            "--gt", str(root), "--checkpoint", str(tmp_path / "not_loaded.pt"),
            "--out", str(tmp_path / "out"), "--device", "cpu", "--video-list", str(listing),
        ])
    (line,) = capsys.readouterr().err.splitlines()
    assert info.value.code == 2 and line == (
        f"error: --video-list {listing} lists missing, but {root / 'Annotations_6fps' / 'missing'}"
        " is not a folder: give the list that matches --gt, or restore the video"
    )
    assert not (tmp_path / "out").exists()
