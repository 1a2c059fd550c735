"""samhq-video on a video file: its frames, decoded by OpenCV, enter the model exactly as the same
frames saved as PNGs in a folder, so both write the same masks and overlays, byte for byte; a file
that cannot be read is one line naming it, exit 2, before the model is loaded."""

import json

import cv2
import numpy as np
import pytest
from PIL import Image

from samhq_train.inference.video import command
from samhq_train.inference.video import frames as frames_module
from samhq_train.inference.video.frames import list_frames, load_frames, load_video, open_video

from .conftest import write_video


def write_video_file(path, frames_dir, fourcc: str):
    """The PNG frames of frames_dir as one video file (OpenCV's FFmpeg writer)."""
    frames = [np.array(Image.open(p)) for p in list_frames(frames_dir)]
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10, (w, h))
    assert writer.isOpened(), f"OpenCV cannot write {fourcc} {path.suffix} here"
    for rgb in frames:
        writer.write(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def decoded_as_pngs(video_path, folder):
    """The reference: the video decoded once by OpenCV, each frame a lossless PNG in a folder."""
    folder.mkdir()
    capture = cv2.VideoCapture(str(video_path))
    count = 0
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        Image.fromarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).save(folder / f"{count:05d}.png")
        count += 1
    capture.release()
    return folder


@pytest.fixture
def prompts_file(tmp_path):
    path = tmp_path / "prompts.json"
    path.write_text(json.dumps([
        {"frame": 0, "object": 1, "points": [[25, 35]]},
        {"frame": 2, "object": 2, "box": [70, 40, 110, 80]},
    ]))
    return path


def counting_captures(patch) -> list[str]:
    """The paths frames.py opens with OpenCV from now on."""
    paths, capture = [], cv2.VideoCapture

    def counting(path):
        paths.append(path)
        return capture(path)

    patch.setattr(frames_module.cv2, "VideoCapture", counting)
    return paths


# FFV1 is lossless (decoded frames = written frames); the others are lossy but decode the same each
# time. Every container samhq-video takes whose writer this OpenCV has (VP80 / VP90 into .webm with
# a note from FFmpeg that it picks the codec's own tag).
@pytest.mark.parametrize(("fourcc", "suffix"), [
    ("FFV1", ".mkv"), ("MJPG", ".avi"), ("mp4v", ".mov"), ("VP80", ".webm"), ("VP90", ".webm"),
])
def test_video_file_equals_its_frames_as_pngs(fourcc, suffix, hq_sam2_file, prompts_file,
                                              tmp_path, monkeypatch):
    source = write_video(tmp_path / "source", num_frames=5, suffix=".png")
    video = write_video_file(tmp_path / f"clip{suffix}", source, fourcc)
    pngs = decoded_as_pngs(video, tmp_path / "pngs")
    assert len(list_frames(pngs)) == 5
    opened = open_video(video)
    assert (opened.names, opened.size, opened.files) == ([f"0000{i}" for i in range(5)],
                                                         (96, 128), None)
    assert load_video(opened, 64).equal(load_frames(list_frames(pngs), 64))

    outs = {}
    for name, frames in (("video", video), ("folder", pngs)):
        outs[name] = tmp_path / f"masks_{name}"
        with monkeypatch.context() as patch:
            decoded = counting_captures(patch)
            assert command.main([
                "--frames", str(frames), "--prompts", str(prompts_file), "--checkpoint",
                str(hq_sam2_file), "--out", str(outs[name]), "--device", "cpu", "--overlay",
            ]) == 0
        assert decoded == ([str(video)] if name == "video" else [])  # once, overlays included
    written = sorted(p.relative_to(outs["folder"]) for p in outs["folder"].rglob("*.*"))
    assert written == sorted(p.relative_to(outs["video"]) for p in outs["video"].rglob("*.*"))
    assert len(written) == 10  # 5 masks, 5 overlays
    for rel in written:
        assert (outs["video"] / rel).read_bytes() == (outs["folder"] / rel).read_bytes(), rel
    ids = np.stack([np.array(Image.open(outs["video"] / f"0000{i}.png")) for i in range(5)])
    assert (ids == 1).sum() > 100 and (ids == 2).sum() > 100


def run_main(args):
    with pytest.raises(SystemExit) as exit_:
        command.main(args)
    return exit_.value.code


@pytest.mark.parametrize(
    ("name", "content", "named"),
    [
        ("clip.mp4", None, "clip.mp4: video file not found"),
        ("clip.gif", b"GIF89a", "clip.gif: not a frames folder nor a video file"),
        ("clip.mp4", b"not a video at all", "clip.mp4: "),
        ("clip.avi", b"", "clip.avi: "),
    ],
)
def test_unreadable_video_file_is_one_line(name, content, named, prompts_file, tmp_path, capfd):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    model_file = tmp_path / "never_read.pt"  # the frames are refused before the model is read
    code = run_main(["--frames", str(path), "--prompts", str(prompts_file), "--checkpoint",
                     str(model_file), "--out", str(tmp_path / "out"), "--device", "cpu"])
    err = capfd.readouterr().err.strip()  # FFmpeg's own log lines too
    assert code == 2 and err.count("\n") == 0 and named in err, err
    assert "never_read.pt" not in err and "a video file (.mp4" in err
    assert not (tmp_path / "out").exists()


def test_decoded_frames_are_dropped_once_resized(tmp_path):
    """A video file's frames at its size stay only where they are kept (for overlays)."""
    source = write_video(tmp_path / "source", num_frames=3, suffix=".png")
    video = write_video_file(tmp_path / "clip.mkv", source, "FFV1")
    kept, dropped = open_video(video, keep_decoded=True), open_video(video)
    assert load_video(kept, 32).equal(load_video(dropped, 32))
    assert dropped.decoded == [None] * 3
    for i, path in enumerate(list_frames(source)):
        assert np.array_equal(kept.image(i), np.array(Image.open(path)))
    with pytest.raises(RuntimeError, match="frame 1 was dropped"):
        dropped.image(1)


def test_max_frames_reads_and_tracks_the_first_frames(hq_sam2_file, prompts_file, tmp_path,
                                                      monkeypatch):
    """--max-frames 3 on a 5-frame file writes what its first 3 frames in a folder give, byte for
    byte, decoding no frame past them; a prompt past them is refused in one line."""
    source = write_video(tmp_path / "source", num_frames=5, suffix=".png")
    video = write_video_file(tmp_path / "clip.mkv", source, "FFV1")
    first = tmp_path / "first"
    first.mkdir()
    for path in list_frames(source)[:3]:
        (first / path.name).write_bytes(path.read_bytes())
    decoded, decode = [], frames_module.decoded_frames

    def counting(path):
        for frame in decode(path):
            decoded.append(path)
            yield frame

    monkeypatch.setattr(frames_module, "decoded_frames", counting)
    outs = {}
    for name, frames, limit in (("video", video, ["--max-frames", "3"]), ("folder", first, []),
                                ("source", source, ["--max-frames", "3"])):
        outs[name] = tmp_path / f"masks_{name}"
        assert command.main([
            "--frames", str(frames), "--prompts", str(prompts_file), "--checkpoint",
            str(hq_sam2_file), "--out", str(outs[name]), "--device", "cpu", *limit,
        ]) == 0
        assert sorted(p.name for p in outs[name].iterdir()) == [f"0000{i}.png" for i in range(3)]
    assert len(decoded) == 3
    for png in outs["folder"].iterdir():
        assert (outs["video"] / png.name).read_bytes() == png.read_bytes()
        assert (outs["source"] / png.name).read_bytes() == png.read_bytes()


@pytest.mark.parametrize(("limit", "named"), [
    ("2", "prompts.json[1]: frame 2 does not exist (frames 0 to 1 are read with --max-frames 2)"),
    ("0", "--max-frames 0: give 1 or more"),
])
def test_max_frames_refusals(limit, named, prompts_file, tmp_path, capsys):
    source = write_video(tmp_path / "source", num_frames=3, suffix=".png")
    code = run_main(["--frames", str(source), "--prompts", str(prompts_file), "--checkpoint",
                     str(tmp_path / "never_read.pt"), "--out", str(tmp_path / "out"),
                     "--max-frames", limit])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and named in err, err
