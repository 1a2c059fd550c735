"""A video's frame files are listed by one rule (imaging.frame_entries) for video training
(data=video_folder) and samhq-video: .jpg and .png frames alike, mixed in one sequence too, two
frames of one name refused; a damaged frame's refusal says to replace it, not remove it (removing
it would shift every later frame's index), in both readers."""

import re

import numpy as np
import pytest
from PIL import Image

from samhq_train.data.image_files import DataError
from samhq_train.data.video_clips import VideoClipDataset, find_sequences
from samhq_train.inference.video.frames import FramesError, list_frames, open_video
from tests.data.test_video_clip_folders import write_sequence

REPLACE = r"copy or extract it again \(removing it would shift every later frame's index\)$"


def png_frames(root, *stems):
    """Frames `stems` of root's sequence 'seq' saved as PNGs instead of JPEGs (other pixels, so
    that reading the PNG is seen)."""
    images = root / "JPEGImages" / "seq"
    for stem in stems:
        (images / f"{stem}.jpg").unlink()
        Image.fromarray(np.full((16, 20, 3), 200, np.uint8)).save(images / f"{stem}.png")
    return images


def test_a_sequence_of_jpeg_and_png_frames_is_read_whole_by_both_readers(tmp_path):
    write_sequence(tmp_path, "seq", 4)
    images = png_frames(tmp_path, "00001", "00003")
    (seq,) = find_sequences(tmp_path, min_frames=4)
    names = ["00000.jpg", "00001.png", "00002.jpg", "00003.png"]
    assert [p.name for p in seq.frames] == names
    assert [p.name for p in list_frames(images)] == names  # samhq-video's listing
    clip = VideoClipDataset(tmp_path, image_size=20, num_frames=4, hflip_prob=0.0)[0]
    assert "error" not in clip, clip
    assert clip["images"][1].float().mean() == pytest.approx(200, abs=2)  # the PNG's pixels
    assert clip["images"][2].float().mean() == pytest.approx(80, abs=2)  # the JPEG's


def test_a_jpeg_and_a_png_of_one_name_are_refused_by_both_readers(tmp_path):
    write_sequence(tmp_path, "seq", 3)
    images = tmp_path / "JPEGImages" / "seq"
    Image.fromarray(np.zeros((16, 20, 3), np.uint8)).save(images / "00001.png")
    said = (rf"^{re.escape(str(images))}: several frames are named '00001' \(00001.jpg, "
            r"00001.png\); rename or move out all but one$")
    with pytest.raises(DataError, match=said):
        find_sequences(tmp_path)
    with pytest.raises(FramesError, match=said):
        list_frames(images)


@pytest.mark.parametrize(("damage", "problem"), [
    (b"", r"is empty \(0 bytes\)"),
    (b"\x89PNG\r\n\x1a\n" + bytes(40), r"is not a readable image \(corrupt or unsupported "
     r"format\)"),
])
def test_a_damaged_frame_is_to_be_replaced_not_removed(tmp_path, damage, problem):
    write_sequence(tmp_path, "seq", 3)
    frame = tmp_path / "JPEGImages" / "seq" / "00001.jpg"
    frame.write_bytes(damage)
    said = rf"^cannot read frame file {re.escape(str(frame))}: 00001.jpg {problem}; {REPLACE}"
    clip = VideoClipDataset(tmp_path, image_size=16, num_frames=3, hflip_prob=0.0)[0]
    assert "images" not in clip
    assert re.match(said, clip["error"]), clip["error"]
    with pytest.raises(FramesError, match=said):
        open_video(frame.parent)
