"""samhq-video opens a frames folder (open_video: each frame's size and whether it was cut
short, before any model is loaded) without reading each frame whole: its decoding reads it
(load_video), so a frame's bytes are read once. A frame's ends decide whether it is complete
when they can (image_signatures.complete_by_ends); the whole file decides otherwise, as before."""

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from samhq_train.image_header import ImageFileError
from samhq_train.image_signatures import truncated
from samhq_train.imaging import check_complete
from samhq_train.inference.video.frames import load_video, open_video

PROC_IO = Path("/proc/self/io")


def _noise(hw=(240, 320), seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (*hw, 3), np.uint8))


def _bytes_read() -> int:
    """This process's bytes read by read() calls so far (Linux's rchar)."""
    line = next(r for r in PROC_IO.read_text().splitlines() if r.startswith("rchar:"))
    return int(line.split()[1])


@pytest.mark.skipif(not PROC_IO.exists(), reason="needs Linux's /proc/self/io")
def test_opening_a_frames_folder_reads_no_frame_whole(tmp_path):
    for t in range(6):
        _noise((480, 640), seed=t).save(tmp_path / f"{t:05d}.jpg")
    total = sum(p.stat().st_size for p in tmp_path.iterdir())
    before = _bytes_read()
    video = open_video(tmp_path)
    opened = _bytes_read() - before
    load_video(video, 64)
    loaded = _bytes_read() - before - opened
    assert opened < total / 2, (opened, total)
    assert loaded >= total, (loaded, total)  # the decoding reads each frame whole, once


def _jpeg(**save) -> bytes:
    out = io.BytesIO()
    _noise().save(out, "JPEG", **save)
    return out.getvalue()


def _png() -> bytes:
    out = io.BytesIO()
    _noise().save(out, "PNG")
    return out.getvalue()


def _app_segment(size: int) -> bytes:
    """A JPEG APP15 segment of `size` bytes in all: headers longer than the ends read."""
    return b"\xff\xef" + (size - 2).to_bytes(2, "big") + bytes(size - 4)


FILES = {
    "jpeg": _jpeg(),
    "jpeg cut short": _jpeg()[: len(_jpeg()) * 9 // 10],
    "jpeg then an mp4 (a motion photo)": _jpeg() + b"\x00\x00\x00\x18ftypmp42" + bytes(30000),
    "jpeg with 60 KB of headers": _jpeg()[:2] + _app_segment(60000) + _jpeg()[2:],
    "jpeg with 60 KB of headers, cut": (_jpeg()[:2] + _app_segment(60000) + _jpeg()[2:])[:-4000],
    "png": _png(),
    "png cut short": _png()[: len(_png()) * 9 // 10],
    "png with its end chunk before 5 KB of bytes": _png() + bytes(5000),
}


@pytest.mark.parametrize("case", list(FILES))
def test_a_long_frame_is_told_complete_or_cut_as_its_whole_bytes_tell(tmp_path, case):
    path = tmp_path / "frame.bin"
    path.write_bytes(FILES[case])
    assert path.stat().st_size > 40000  # longer than the ends read
    cut = truncated(np.fromfile(path, np.uint8))
    if cut is None:
        check_complete(path, "frame")
    else:
        with pytest.raises(ImageFileError, match=f"is truncated \\({cut} missing\\)"):
            check_complete(path, "frame")
    assert (cut is None) == ("cut" not in case and "before" not in case), cut
