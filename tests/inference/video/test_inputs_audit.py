"""samhq-video's inputs (mutation audit round 5): prompts files it must refuse (one line, exit 2,
before the model loads) or read as documented, frame names and folders, and a video file that
does not hold the frames it was opened with."""

import json

import numpy as np
import pytest
from PIL import Image

from samhq_train.inference.video import command
from samhq_train.inference.video.frames import list_frames, open_video

from .conftest import write_video
from .test_video_file import write_video_file


@pytest.fixture
def inputs(tmp_path):
    frames = write_video(tmp_path / "frames", num_frames=3)
    return {"frames": frames, "prompts": tmp_path / "prompts.json", "out": tmp_path / "out"}


def run_main(inputs, entries, checkpoint="missing.pt", *extra):
    inputs["prompts"].write_text(json.dumps(entries))
    argv = ["--frames", str(inputs["frames"]), "--prompts", str(inputs["prompts"]), "--out",
            str(inputs["out"]), "--checkpoint", str(checkpoint), "--device", "cpu", *extra]
    try:
        return command.main(argv)
    except SystemExit as exit_:
        return exit_.code


def entry(**fields):
    return [{"frame": 0, "object": 1, "points": [[20, 30]], **fields}]


@pytest.mark.parametrize(
    ("entries", "named"),
    [
        (entry(frame=True), "'frame' must be a whole number, not True"),
        (entry(object=256), "object id 256 does not exist (use 1 to 255)"),
        (entry(labels=[True]), "'labels' must be one 1 or 0 per point"),
        (entry(points=[]), "'points' must be a list of [x, y] pairs"),
        ([{"frame": 0, "object": 1, "box": [1, 2, 3, 4], "labels": [1]}], "'labels' without"),
        ([{"frame": 0, "object": 1, "box": [1, 2, "3", 4]}], "'box' must be [x0, y0, x1, y1]"),
        ([{"frame": 0, "object": 1, "mask": "m.png", "labels": [1]}], "give 'mask' alone"),
        (entry() + [{"frame": 1, "object": 1, "points": [[5, 5]]}], "missing.pt"),  # not a repeat
    ],
)
def test_prompts_refused_with_one_line(inputs, capsys, entries, named):
    assert run_main(inputs, entries) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and named in err, err


def test_labels_default_to_1_and_masks_are_any_nonzero_value(inputs, hq_sam2_file, tmp_path):
    """Points without labels are object points; a mask PNG's nonzero pixels (here value 1) are
    the object: the masks equal those of the same prompts spelled out."""
    mask = np.zeros((96, 128), np.uint8)
    mask[40:80, 70:110] = 1
    Image.fromarray(mask).save(inputs["prompts"].parent / "m.png")
    Image.fromarray(mask * 255).save(inputs["prompts"].parent / "m255.png")
    written = {}
    for name, entries in {
        "short": [{"frame": 0, "object": 1, "points": [[20, 30], [60, 50]]},
                  {"frame": 1, "object": 2, "mask": "m.png"}],
        "spelled": [{"frame": 0, "object": 1, "points": [[20, 30], [60, 50]], "labels": [1, 1]},
                    {"frame": 1, "object": 2, "mask": "m255.png"}],
    }.items():
        inputs["out"] = tmp_path / name
        assert run_main(inputs, entries, hq_sam2_file, "--fill-hole-area", "0") == 0
        written[name] = [p.read_bytes() for p in sorted(inputs["out"].glob("*.png"))]
        assert len(written[name]) == 3
    assert written["short"] == written["spelled"]
    ids = np.array(Image.open(tmp_path / "short" / "00001.png"))
    assert (ids == 2).any()


def test_frame_names_sort_numbers_first_and_take_upper_case_suffixes(tmp_path):
    for name in ("b.JPG", "10.png", "2.JPEG", "a.jpg", "notes.txt"):
        (tmp_path / name).write_bytes(b"")
    assert [p.name for p in list_frames(tmp_path)] == ["2.JPEG", "10.png", "a.jpg", "b.JPG"]


def test_a_folder_named_like_a_video_is_a_frames_folder(tmp_path):
    folder = write_video(tmp_path / "clip.mp4", num_frames=2)
    video = open_video(folder)
    assert video.files is not None and video.names == ["00000", "00001"]


def test_a_negative_fill_hole_area_is_a_usage_error(inputs, capsys):
    assert run_main(inputs, entry(), "missing.pt", "--fill-hole-area", "-1") == 2
    err = capsys.readouterr().err
    assert "--fill-hole-area -1: give 0 (off) or more" in err


def test_overlays_of_a_video_file_whose_width_is_not_a_multiple_of_8(hq_sam2_file, tmp_path):
    """A 90-pixel-wide video file gives the overlays of the same frames in a folder, byte for
    byte."""
    source = write_video(tmp_path / "source", num_frames=2, hw=(48, 90), suffix=".png")
    video = write_video_file(tmp_path / "clip.mkv", source, "FFV1")
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps([{"frame": 0, "object": 1, "box": [20, 10, 70, 40]}]))
    overlays = []
    for name, frames in (("folder", source), ("file", video)):
        out = tmp_path / name
        assert command.main(["--frames", str(frames), "--prompts", str(prompts), "--out",
                             str(out), "--checkpoint", str(hq_sam2_file), "--device", "cpu",
                             "--overlay"]) == 0
        overlays.append([p.read_bytes() for p in sorted((out / "overlay").glob("*.jpg"))])
    assert len(overlays[0]) == 2 and overlays[0] == overlays[1]
