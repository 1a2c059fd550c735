"""Mutation audit (round 25) of video_clips.squared_clip / clip_frames and SequenceListing.say:
a clip's frame of another size is refused with both sizes as width x height, and the sequences
skipped as too short are named, the first five; one full-size frame held at a time."""

import logging
import tracemalloc

import numpy as np
import pytest
from PIL import Image

from samhq_train.data.image_files import DataError
from samhq_train.data.moving_shapes import write_moving_shapes
from samhq_train.data.video_clips import find_sequences, squared_clip
from tests.data.test_video_clip_folders import write_sequence


def test_a_frame_of_another_size_is_said_as_width_x_height(tmp_path):
    root = write_sequence(tmp_path, "seq", 3)  # frames 20 wide, 16 high
    frame = root / "JPEGImages" / "seq" / "00001.jpg"
    Image.fromarray(np.zeros((16, 24, 3), np.uint8)).save(frame)
    Image.fromarray(np.zeros((16, 24), np.uint8)).convert("P").save(
        root / "Annotations" / "seq" / "00001.png")
    (seq,) = find_sequences(root, 3)
    with pytest.raises(DataError) as refused:
        squared_clip(seq, range(3), 32)
    assert str(refused.value).startswith(
        f"{frame} is 24x16 but 00000.jpg is 20x16 (WxH): the frames of sequence seq")


def test_the_first_five_short_sequences_are_named(tmp_path, caplog):
    root = write_sequence(tmp_path, "long", 3)
    for name in "abcdef":
        write_sequence(root, name, 2)
    with caplog.at_level(logging.WARNING, logger="samhq_train"):
        find_sequences(root, 3)
    assert ("6 sequence(s) with fewer than 3 annotated frames skipped: a, b, c, d, e"
            in caplog.text)
    assert "e, f" not in caplog.text


def test_the_frame_handed_on_is_not_held_while_the_next_is_read(tmp_path):
    """squared_clip's peak: the clip squared, its labels, and one frame's reading (its decoded
    and converted arrays, ~2 full frames here); a frame kept by clip_frames while the next one is
    read adds a third (measured 1.8 -> 3.1 full frames)."""
    frames, size, side = 12, 240, 16
    root = write_moving_shapes(tmp_path / "val", num_videos=1, num_frames=frames, size=size)
    (seq,) = find_sequences(root, 2)
    full_frame = size * size * 3
    kept = frames * (size * size + side * side * 3)
    tracemalloc.start()
    try:
        squared_clip(seq, range(frames), side)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < kept + 2.5 * full_frame, ((peak - kept) / full_frame)
