"""A user's own frames folders as samhq-video reads them: a Mac's '._' files and hidden files are
not frames, a frame cut short (an interrupted copy) is one line naming it before any model is
loaded, the pixels are read_image's (as every other reader of a user's images), and a folder
without frames says what it holds instead (a video file, one folder per video, hidden files)."""

import json

import numpy as np
import pytest
from PIL import Image

from samhq_train.imaging import read_image
from samhq_train.inference.video import command
from samhq_train.inference.video.frames import (
    FramesError,
    list_frames,
    load_frames,
    open_video,
    read_frame,
)

APPLE_DOUBLE = b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(40)


def write_frames(folder, count=3, suffix=".jpg", hw=(24, 32)):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (*hw, 3), np.uint8)).save(folder / f"{i:05d}{suffix}")
    return folder


def cut_short(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 9 // 10])  # the header intact, the end gone


def test_a_macs_dot_underscore_files_and_hidden_files_are_not_frames(tmp_path):
    folder = write_frames(tmp_path / "v")
    for name in ("._00000.jpg", "._00001.jpg", ".hidden.png"):
        (folder / name).write_bytes(APPLE_DOUBLE)
    assert [p.name for p in list_frames(folder)] == ["00000.jpg", "00001.jpg", "00002.jpg"]
    assert open_video(folder).names == ["00000", "00001", "00002"]


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_a_frame_cut_short_is_refused_when_the_video_is_opened(tmp_path, suffix):
    folder = write_frames(tmp_path / "v", hw=(96, 128), suffix=suffix)
    cut_short(folder / f"00001{suffix}")
    said = (rf"^cannot read frame file .*00001\{suffix}: 00001\{suffix} is truncated .*; copy "
            r"or extract it again \(removing it would shift every later frame's index\)$")
    with pytest.raises(FramesError, match=said):
        open_video(folder)


def test_samhq_video_names_a_cut_frame_in_one_line_before_the_model(tmp_path, capsys):
    folder = write_frames(tmp_path / "v", hw=(96, 128))
    cut_short(folder / "00002.jpg")
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps([{"frame": 0, "object": 1, "points": [[5, 5]]}]))
    argv = ["--frames", str(folder), "--prompts", str(prompts), "--out", str(tmp_path / "out"),
            "--checkpoint", str(tmp_path / "missing.pt"), "--device", "cpu"]
    with pytest.raises(SystemExit) as stop:
        command.main(argv)
    err = capsys.readouterr().err.strip()
    assert stop.value.code == 2 and err.count("\n") == 0, err
    assert "00002.jpg is truncated (JPEG end marker missing)" in err and "missing.pt" not in err


def test_a_frame_that_cannot_be_decoded_is_a_frames_error(tmp_path):
    """Damaged after the video was opened (or damaged inside, its end mark intact)."""
    folder = write_frames(tmp_path / "v")
    video = open_video(folder)
    (folder / "00001.jpg").write_bytes(APPLE_DOUBLE)
    with pytest.raises(FramesError, match="00001.jpg is macOS metadata"):
        video.image(1)
    with pytest.raises(FramesError, match="00001.jpg"):
        load_frames(video.files, 16)


def test_frames_read_as_read_image_and_resized_as_the_official_loader(tmp_path):
    """8-bit RGB, grey, palette and RGBA frames: PIL's convert("RGB").resize pixels (the official
    loader's); a 16-bit grey frame: its high byte, as read_image reads it everywhere (PIL's
    convert would clip it to white)."""
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (20, 30, 3), np.uint8)
    pictures = [Image.fromarray(rgb), Image.fromarray(rgb[..., 0]),
                Image.fromarray(rgb).convert("P"), Image.fromarray(rgb).convert("RGBA")]
    for i, picture in enumerate(pictures):
        picture.save(tmp_path / f"{i}.png")
    Image.fromarray(rgb).save(tmp_path / "4.jpg")
    files = list_frames(tmp_path)
    for path, frame in zip(files, load_frames(files, 16), strict=True):
        with Image.open(path) as image:
            official = np.array(image.convert("RGB").resize((16, 16)))
        assert np.array_equal(frame.numpy(), official), path.name
    deep = tmp_path / "deep"
    deep.mkdir()
    Image.fromarray(rng.integers(0, 65536, (20, 30)).astype(np.uint16)).save(deep / "0.png")
    assert np.array_equal(read_frame(deep / "0.png"), read_image(deep / "0.png"))
    assert np.array_equal(open_video(deep).image(0), read_image(deep / "0.png"))


@pytest.mark.parametrize(
    ("layout", "said"),
    [
        ({"clip.mp4": b"x"}, "it holds the video file clip.mp4: give that file instead"),
        ({"bear/00000.jpg": None}, "its subfolders are not read: give one video's folder"),
        ({"._00000.jpg": APPLE_DOUBLE}, "hidden files such as a Mac's '._<name>' files are not"),
    ],
)
def test_a_folder_without_frames_says_what_it_holds(tmp_path, layout, said):
    for name, content in layout.items():
        path = tmp_path / "v" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            write_frames(path.parent, 1)
        else:
            path.write_bytes(content)
    with pytest.raises(FramesError, match="holds no frames") as refused:
        open_video(tmp_path / "v")
    assert said in str(refused.value)
