"""Mutation audit (round 25) of imaging.entries_with_suffixes / frame_entries and the video
masks' listing: a sequence's masks are its PNGs only (a JPEG preview beside them is no mask),
and frames sharing a name are refused naming the first such name and its files in name order."""

import re

import numpy as np
import pytest
from PIL import Image

from samhq_train import imaging
from samhq_train.data.video_clips import list_sequences
from samhq_train.image_header import ImageFileError
from tests.data.test_video_clip_folders import write_sequence


def test_a_jpeg_beside_the_masks_is_no_mask(tmp_path):
    write_sequence(tmp_path, "seq", 3)
    masks = tmp_path / "Annotations" / "seq"
    (masks / "00001.png").rename(masks / "00001.jpg")  # e.g. a preview, or a mask saved wrongly
    listing = list_sequences(tmp_path)
    assert [path.name for path in listing.sequences[0].masks] == ["00000.png", "00002.png"]
    assert listing.unannotated == 1


def test_entries_with_suffixes_keeps_the_suffixes_asked_in_any_case(tmp_path):
    for name in ("b.PNG", "a.png", "c.jpg", "._d.png", "e", "f.png.txt"):
        (tmp_path / name).write_bytes(b"")
    found = imaging.entries_with_suffixes(tmp_path, (".png",))
    assert sorted((stem, entry.name) for stem, entry in found) == [("a", "a.png"),
                                                                  ("b", "b.PNG")]


def test_frames_sharing_a_name_are_refused_naming_the_first_in_name_order(tmp_path):
    frame = np.zeros((4, 4, 3), np.uint8)
    for name in ("00003.jpg", "00003.png", "00002.png", "00002.jpeg", "00002.JPG"):
        Image.fromarray(frame).save(tmp_path / name, format="PNG")
    said = (rf"^{re.escape(str(tmp_path))}: several frames are named '00002' \(00002.JPG, "
            r"00002.jpeg, 00002.png\); rename or move out all but one$")
    with pytest.raises(ImageFileError, match=said):
        imaging.frame_entries(tmp_path)
