"""The SAM 3 reference fixture (tests/fixtures/sam3_meta_mini.pt, written by make_fixture.py from
Meta's sam3 package) and our miniature loaded from it through load_checkpoint."""

from pathlib import Path

import pytest
import torch

from samhq_train.model import load_checkpoint

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "sam3_meta_mini.pt"


@pytest.fixture(scope="session")
def meta_fixture() -> dict:
    return torch.load(FIXTURE, map_location="cpu", weights_only=True)


@pytest.fixture(scope="session")
def meta_file(tmp_path_factory, meta_fixture) -> Path:
    """The fixture's weights as Meta's sam3.pt layout on disk (a flat state dict)."""
    path = tmp_path_factory.mktemp("sam3") / "sam3.pt"
    torch.save(meta_fixture["state_dict"], path)
    return path


@pytest.fixture(scope="session")
def meta_model(meta_file):
    return load_checkpoint(meta_file).eval()
