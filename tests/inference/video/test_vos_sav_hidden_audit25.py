"""Mutation audit (round 25; audit 23's open B4 / B5) of samhq-video-eval's per-object (SA-V)
plan: a Mac's hidden folders beside the object folders and the sequence folders are left out,
and a video without object folders is told the layout that per-object annotations take."""

import pytest

from samhq_train.inference.video.benchmark import (
    VosInputError,
    plan_benchmark,
    plan_object_sequence,
)

from .test_vos_sav_benchmark import write_sav


def test_hidden_object_and_sequence_folders_are_left_out(tmp_path):
    root = write_sav(tmp_path / "sav")
    masks = root / "Annotations_6fps"
    hidden_object = masks / "late" / "._000"
    hidden_object.mkdir()
    (hidden_object / "00000.png").write_bytes(b"\0\5\26\7 AppleDouble")
    (masks / ".Trashes").mkdir()
    plan = plan_benchmark(root, root, per_object=True)
    assert [seq.name for seq in plan] == ["late", "together"]
    late = plan_object_sequence("late", root / "JPEGImages_24fps" / "late", masks / "late")
    assert sorted(late.prompts) == [0, 1]


def test_a_video_without_object_folders_is_told_their_layout(tmp_path):
    root = write_sav(tmp_path / "sav", names=("late",))
    late = root / "Annotations_6fps" / "late"
    for obj in ("000", "001"):
        for png in (late / obj).iterdir():
            png.unlink()
        (late / obj).rmdir()
    (late / "._000").mkdir()  # hidden: no object folder either
    with pytest.raises(VosInputError) as refused:
        plan_object_sequence("late", root / "JPEGImages_24fps" / "late", late)
    assert str(refused.value) == (
        f"{late} holds no object folders: per-object annotations are "
        "<video>/<object id>/<frame>.png")
