"""Mutation audit (round 23) of imaging.frame_entries and mask_png's cut-short check: frames are
listed in number order (2 before 10), and an annotation path that is a folder or missing is said
as what it is (the cut-short check reads only a file)."""

import pytest

from samhq_train.image_header import ImageFileError, ImageMemoryError
from samhq_train.imaging import frame_entries
from samhq_train.mask_png import read_mask_png


def test_frames_are_listed_in_number_order(tmp_path):
    for name in ("10.jpg", "2.png", "1.jpg", "b.jpg", "a.jpeg"):
        (tmp_path / name).write_bytes(b"")
    names = [entry.name for _, entry in frame_entries(tmp_path)]
    assert names == ["1.jpg", "2.png", "10.jpg", "a.jpeg", "b.jpg"]


def test_an_annotation_that_is_a_folder_or_missing_is_said_as_what_it_is(tmp_path):
    (tmp_path / "00000.png").mkdir()
    with pytest.raises(ImageFileError, match=r"cannot be read as an image \(a folder, not a "):
        read_mask_png(tmp_path / "00000.png")
    with pytest.raises(ImageFileError, match=r"00001.png: cannot be read as an image \(.*No such"):
        read_mask_png(tmp_path / "00001.png")


def test_running_out_of_memory_on_a_frame_names_it_as_a_frame(tmp_path, monkeypatch):
    import numpy as np
    from PIL import Image

    from samhq_train import imaging

    path = tmp_path / "00000.png"
    Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(path)

    def out_of_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(imaging.cv2, "cvtColor", out_of_memory)
    with pytest.raises(ImageMemoryError, match=rf"^out of memory on frame file {path} "):
        imaging.read_image(path, what="frame")
