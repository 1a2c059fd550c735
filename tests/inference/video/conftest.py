"""A short synthetic video (two shapes moving over a gradient, JPEG frames named as the official
predictor expects), and the official HQ-SAM 2 video fixture with its model and frames."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from samhq_train.model import build_sam_hq, save_checkpoint
from tests.reference import randomize_

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
OFFICIAL_FIXTURE = FIXTURES / "hqsam2_video_official_mini.pt"

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


@pytest.fixture(scope="session")
def official():
    """tests/fixtures/hqsam2_video_official_mini.pt (see make_hqsam2_video_fixture.py there).
    The repository's own file, which holds numpy arrays: torch 2.3's weights_only refuses them."""
    return torch.load(OFFICIAL_FIXTURE, map_location="cpu", weights_only=False)


@pytest.fixture(scope="session")
def official_model(official):
    """The fixture's weights, rebuilt (randomize_ of the demo variant) and checked by checksum."""
    model = randomize_(build_sam_hq(official["variant"], seed=0), seed=official["seed"]).eval()
    checksum = float(sum(t.double().abs().sum() for t in model.state_dict().values()))
    assert checksum == pytest.approx(official["weights_checksum"], rel=1e-9), "weights differ"
    return model


@pytest.fixture(scope="session")
def official_frames(official, tmp_path_factory):
    """The fixture's JPEG frames, byte for byte, in a folder."""
    folder = tmp_path_factory.mktemp("official_frames")
    for name, data in official["frames"].items():
        (folder / name).write_bytes(data)
    return folder


@pytest.fixture(scope="session")
def hq_sam2_file(official_model, tmp_path_factory):
    """The fixture's HQ-SAM 2 miniature in the official file layout ({"model": state_dict})."""
    return save_checkpoint(official_model, tmp_path_factory.mktemp("ckpt") / "hq_sam2.pt", "sam_hq")
