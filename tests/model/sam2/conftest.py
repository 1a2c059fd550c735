"""The SAM 2.1 / HQ-SAM 2 reference fixtures (tests/fixtures, see their README in the shared
fixtures) and the miniature model built from them."""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from samhq_train.model.sam2 import build

from .official import config_from_official, load_official_state

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
HQ_FIXTURE = FIXTURES / "hqsam2_official_mini.pt"
META_FIXTURE = FIXTURES / "sam2_meta_mini.pt"


def load_fixture(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.fixture(scope="session")
def hq_fixture() -> dict:
    return load_fixture(HQ_FIXTURE)


@pytest.fixture(scope="session")
def meta_fixture() -> dict:
    return load_fixture(META_FIXTURE)


def mini_model(fixture: dict):
    """The miniature, built from the fixture's official config, its weights loaded (strictly,
    bar the HQ keys a Meta file lacks), in eval mode."""
    model = build(config_from_official(fixture["config"]))
    load_official_state(model, fixture["state_dict"])
    return model.eval()


@pytest.fixture(scope="session")
def hq_model(hq_fixture):
    return mini_model(hq_fixture)


@pytest.fixture(scope="session")
def meta_model(meta_fixture):
    return mini_model(meta_fixture)


def predictor_image(fixture: dict, size: int) -> torch.Tensor:
    """SAM2Transforms on the fixture image: to 0-1 float, torchvision Resize to size x size
    (bilinear, antialias), back to the 0-255 scale encode takes: 1 x 3 x S x S."""
    image = fixture["image"].permute(2, 0, 1).float()[None] / 255
    image = F.interpolate(image, (size, size), mode="bilinear", align_corners=False, antialias=True)
    return image * 255


def predictor_prompts(prompt: dict, original_hw: tuple[int, int], size: int) -> dict:
    """One fixture prompt in image pixels -> decode's keyword arguments (B = P = 1), coordinates
    scaled by size / (W, H) as SAM2ImagePredictor does."""
    h, w = original_hw
    scale = torch.tensor([size / w, size / h])
    kwargs = {}
    if "box" in prompt:
        kwargs["boxes"] = (torch.tensor(prompt["box"]).view(2, 2) * scale).view(1, 1, 4)
    if "point_coords" in prompt:
        coords = torch.tensor(prompt["point_coords"]) * scale
        kwargs["points"] = (coords[None, None], torch.tensor(prompt["point_labels"])[None, None])
    return kwargs
