"""The per-object (SA-V) benchmark's plan, made before any model loads (mutation audit round 6):
where the frames are looked for, which folders are objects (named by id, hidden ones skipped, one
folder per id), each object's prompt (its first annotated frame where it shows) and the masks
taken as annotations (mode P, L or 1)."""

import re

import numpy as np
import pytest
from PIL import Image

from samhq_train.inference.video.benchmark import VosInputError, plan_benchmark

from .conftest import VIDEO_HW, write_video


def square(t: int) -> np.ndarray:
    mask = np.zeros(VIDEO_HW, bool)
    mask[10:30, 5 + 6 * t : 25 + 6 * t] = True
    return mask


def write_object(folder, frames, shows_from: int = 0, mode: str = "P") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for t in frames:
        mask = square(t) if t >= shows_from else np.zeros(VIDEO_HW, bool)
        values = mask.astype(np.uint8) * (1 if mode == "P" else 255)
        Image.fromarray(values, mode="L").convert(mode).save(folder / f"{t:05d}.png")


@pytest.fixture
def sav(tmp_path):
    root = tmp_path / "sav"
    write_video(root / "JPEGImages_24fps" / "v", num_frames=5)
    masks = root / "Annotations_6fps" / "v"
    write_object(masks / "000", (0, 2, 4))
    write_object(masks / "003", (0, 2, 4), shows_from=2, mode="1")
    write_object(masks / ".ipynb_checkpoints", (0,))
    return root


def test_objects_their_folders_and_first_showing_frames(sav):
    (seq,) = plan_benchmark(sav, sav, per_object=True)
    assert seq.object_folders == {0: "000", 3: "003"} and sorted(seq.prompts) == [0, 3]
    assert seq.prompts[0][0] == 0 and seq.prompts[3][0] == 2
    assert np.array_equal(seq.prompts[3][1], square(2)) and not seq.starts_together
    assert [p.name for p in seq.frames] == [f"{t:05d}.jpg" for t in range(5)]


def test_frames_may_lie_beside_the_annotations(sav, tmp_path):
    """--frames <root>/<video>/ (no JPEGImages_24fps/ level) with an SA-V --gt root."""
    frames = tmp_path / "frames"
    (sav / "JPEGImages_24fps").rename(frames)
    (seq,) = plan_benchmark(frames, sav, per_object=True)
    assert seq.frames[0] == frames / "v" / "00000.jpg"
    with pytest.raises(VosInputError, match="holds the annotations, not their frames"):
        plan_benchmark(sav / "Annotations_6fps", sav / "Annotations_6fps", per_object=True)


@pytest.mark.parametrize(
    ("folder", "named"),
    [
        ("-1", "-1: object folders are named by their id (000, 001, ...): rename it"),
        ("3", "v/3 and "),
    ],
)
def test_object_folders_that_are_not_one_id_each(sav, folder, named):
    write_object(sav / "Annotations_6fps" / "v" / folder, (0,))
    with pytest.raises(VosInputError, match=re.escape(named)):
        plan_benchmark(sav, sav, per_object=True)
