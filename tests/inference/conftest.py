"""Fixtures for the inference tests: the samhq-predict and samhq-export commands, the files they
are run on (tiny_files: a trained-like tiny model's checkpoints in every kind, two images;
tiny_weights: a tiny model's safetensors file), the pixel limit put back. Named apart from the
files and checkpoint fixtures that test files define for themselves."""

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from samhq_train import image_header
from samhq_train.cli import export as export_command
from samhq_train.cli import predict as predict_command
from samhq_train.model import FAMILIES, build_sam_hq, file_sha256, hq_state_dict, save_checkpoint
from tests.reference import randomize_

is_hq_key = FAMILIES["sam1"].is_hq_key


@pytest.fixture(scope="module")
def predict_cli():
    return predict_command


@pytest.fixture(scope="module")
def export_cli():
    return export_command


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory):
    """A trained-like tiny model: a random frozen base (its official SAM file) + random HQ parts,
    saved as a Lightning training checkpoint, a full safetensors file and images."""
    root = tmp_path_factory.mktemp("cli")
    model = randomize_(build_sam_hq("vit_demo", seed=0), seed=6)
    base = root / "sam_tiny.pth"
    torch.save({k: v for k, v in model.state_dict().items() if not is_hq_key(k)}, base)
    ckpt = root / "last.ckpt"
    torch.save(
        {
            "state_dict": {f"model.{k}": v for k, v in hq_state_dict(model).items()},
            "samhq": {
                "variant": "vit_demo",
                "base_checkpoint": str(base),
                "base_sha256": file_sha256(base),
                "seed": None,
            },
        },
        ckpt,
    )
    full = save_checkpoint(model, root / "full.safetensors", "safetensors")
    images = root / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for name, shape in (("a", (120, 90)), ("b", (64, 100))):
        cv2.imwrite(str(images / f"{name}.png"), rng.integers(0, 256, (*shape, 3), dtype=np.uint8))
    return {
        "model": model,
        "base": base,
        "ckpt": ckpt,
        "full": full,
        "images": images,
        "root": root,
    }


@pytest.fixture
def pixel_limit_restored(monkeypatch):
    """The pixel limit is process state (environment, PIL, the setting's name): put it back."""
    monkeypatch.delenv(image_header.MAX_PIXELS_ENV, raising=False)
    monkeypatch.setattr(image_header, "_limit_setting", image_header._limit_setting)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", Image.MAX_IMAGE_PIXELS)


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    """The tiny model (vit_demo, seed 0) as a full safetensors file."""
    root = tmp_path_factory.mktemp("usage")
    model = build_sam_hq("vit_demo", seed=0)
    return save_checkpoint(model, root / "tiny.safetensors", "safetensors")
