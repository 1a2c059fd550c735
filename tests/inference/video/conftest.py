"""A short synthetic video (two shapes moving over a gradient, JPEG frames named as the official
predictor expects) and the prompts the video tests share."""

import numpy as np
import pytest
from PIL import Image

NUM_FRAMES = 6
VIDEO_HW = (96, 128)


def write_video(folder, num_frames: int = NUM_FRAMES, hw=VIDEO_HW, suffix=".jpg"):
    """Frames 00000.jpg ... : a bright square moving right, a dark disc moving down."""
    folder.mkdir(parents=True, exist_ok=True)
    h, w = hw
    yy, xx = np.mgrid[:h, :w]
    for i in range(num_frames):
        image = np.stack([xx * 2 % 256, yy * 2 % 256, np.full_like(xx, 90)], -1).astype(np.uint8)
        image[20:50, 10 + 8 * i : 40 + 8 * i] = (240, 230, 40)
        image[((yy - 40 - 5 * i) ** 2 + (xx - 90) ** 2) < 15**2] = (20, 30, 200)
        Image.fromarray(image).save(folder / f"{i:05d}{suffix}", quality=95)
    return folder


@pytest.fixture
def video_dir(tmp_path):
    return write_video(tmp_path / "frames")
