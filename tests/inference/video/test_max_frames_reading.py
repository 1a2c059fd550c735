"""open_video's max_frames without a model (mutation audit round 6): a frames folder and a video
file both give their first N frames in order (names, count, decoded pixels), all of them without
a limit or with one past the end."""

import numpy as np
import pytest

from samhq_train.inference.video.frames import open_video

from .conftest import write_video
from .test_video_file import write_video_file


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("max_frames")
    folder = write_video(root / "frames", num_frames=5, suffix=".png")
    return folder, write_video_file(root / "clip.avi", folder, "FFV1")


@pytest.mark.parametrize("kind", ["folder", "file"])
def test_the_first_frames_in_order(sources, kind):
    source = sources[0] if kind == "folder" else sources[1]
    everything = open_video(source, keep_decoded=True)
    assert len(everything) == 5 and len(open_video(source, max_frames=9)) == 5
    first = open_video(source, keep_decoded=True, max_frames=3)
    assert len(first) == 3 and first.names == everything.names[:3]
    for i in range(3):
        assert np.array_equal(first.image(i), everything.image(i))
