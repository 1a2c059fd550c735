import pytest
import torch

from tests.reference import random_tiny_model


@pytest.fixture(autouse=True)
def _deterministic_torch():
    torch.manual_seed(0)
    yield


@pytest.fixture
def tiny_model():
    """The tiny SAM-HQ with every tensor random (seeded)."""
    return random_tiny_model(seed=0)
